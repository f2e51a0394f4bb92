//! The parts of TensorBoard's protobuf messages that carry a scalar, as prost messages derived
//! here (no protoc at build time). Field numbers are those of TensorFlow's `event.proto`,
//! `summary.proto`, `tensor.proto` and `tensor_shape.proto`; every field not declared (graphs,
//! images, histograms, log messages…) is skipped by the decoder without being read.

/// `tensorflow.Event`. `what` is a oneof in the schema; only `summary` matters here.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(message, optional, tag = "5")]
    pub summary: Option<Summary>,
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value`: a tag and one of several kinds of value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    #[prost(string, tag = "1")]
    pub tag: String,
    /// TF1 and `torch.utils.tensorboard` scalars.
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
    /// TF2-style summaries: every kind of data is a tensor, told apart by `metadata`.
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
}

/// `tensorflow.SummaryMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// `tensorflow.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    #[prost(string, tag = "1")]
    pub plugin_name: String,
}

/// `tensorflow.TensorProto`: `dtype` is the `DataType` enum.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// The values as raw little-endian bytes (what TensorFlow's C++ writer uses).
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// `tensorflow.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    #[prost(int64, tag = "1")]
    pub size: i64,
}

/// `DataType` values that hold a scalar ckptd can read.
pub const DT_FLOAT: i32 = 1;
pub const DT_DOUBLE: i32 = 2;

impl SummaryValue {
    /// The value as a number, when it is a scalar: a `simple_value`, or a rank-0 `DT_FLOAT` or
    /// `DT_DOUBLE` tensor of the `scalars` plugin (or of no plugin).
    pub fn scalar(&self) -> Option<f64> {
        if let Some(v) = self.simple_value {
            return Some(f64::from(v));
        }
        let plugin = self
            .metadata
            .as_ref()
            .and_then(|m| m.plugin_data.as_ref())
            .map_or("", |p| p.plugin_name.as_str());
        if !plugin.is_empty() && plugin != "scalars" {
            return None;
        }
        self.tensor.as_ref()?.rank0()
    }
}

impl TensorProto {
    fn rank0(&self) -> Option<f64> {
        let shape = self.tensor_shape.as_ref()?;
        if shape.unknown_rank || !shape.dim.is_empty() {
            return None;
        }
        match self.dtype {
            DT_FLOAT => self.float_val.first().copied().map(f64::from).or_else(|| {
                let bytes: [u8; 4] = self.tensor_content.as_slice().try_into().ok()?;
                Some(f64::from(f32::from_le_bytes(bytes)))
            }),
            DT_DOUBLE => self.double_val.first().copied().or_else(|| {
                let bytes: [u8; 8] = self.tensor_content.as_slice().try_into().ok()?;
                Some(f64::from_le_bytes(bytes))
            }),
            _ => None,
        }
    }
}

/// What the first bytes of a record say about the event in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Head {
    Event {
        step: i64,
        wall_time: f64,
    },
    /// Not the start of an event any writer encodes: it holds no metric, as a record that does
    /// not decode.
    NotAnEvent,
    /// The bytes end before the step is known.
    TooShort,
}

/// The step and wall time of an event from the first bytes of its encoding, without the rest
/// (a record too long to read). Writers encode an event's fields in field order, so `wall_time`
/// (1) and `step` (2) come first; an absent one is zero, as in protobuf.
pub fn step_and_wall_time(mut prefix: &[u8]) -> Head {
    let (mut step, mut wall_time) = (0i64, 0.0);
    let mut last_field = 0;
    while !prefix.is_empty() {
        let Ok(key) = prost::encoding::decode_varint(&mut prefix) else {
            return Head::TooShort;
        };
        let field = key >> 3;
        if field <= last_field {
            return Head::NotAnEvent;
        }
        last_field = field;
        match (field, key & 7) {
            (1, 1) => {
                let Some(bytes) = prefix.get(..8) else {
                    return Head::TooShort;
                };
                wall_time = f64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                prefix = &prefix[8..];
            }
            (2, 0) => match prost::encoding::decode_varint(&mut prefix) {
                #[allow(clippy::cast_possible_wrap)] // int64 is encoded as its two's complement
                Ok(n) => step = n as i64,
                Err(_) => return Head::TooShort,
            },
            // Field numbers of `Event` beyond the step (file_version, graph_def, summary…).
            (3..=10, _) => return Head::Event { step, wall_time },
            _ => return Head::NotAnEvent,
        }
    }
    Head::TooShort
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn step_and_wall_time_come_from_the_first_bytes_of_an_event() {
        let event = Event {
            wall_time: 1_700_000_100.5,
            step: 4200,
            summary: Some(Summary {
                value: vec![SummaryValue {
                    tag: "val/loss".into(),
                    simple_value: Some(0.5),
                    tensor: None,
                    metadata: None,
                }],
            }),
        };
        let bytes = event.encode_to_vec();
        let head = |step, wall_time| Head::Event { step, wall_time };
        assert_eq!(
            step_and_wall_time(&bytes[..bytes.len().min(32)]),
            head(4200, 1_700_000_100.5)
        );
        // Step 0 is not written at all: the summary follows the wall time.
        let zero = Event {
            step: 0,
            ..event.clone()
        }
        .encode_to_vec();
        assert_eq!(step_and_wall_time(&zero[..20]), head(0, 1_700_000_100.5));
        let negative = Event { step: -3, ..event }.encode_to_vec();
        assert_eq!(step_and_wall_time(&negative), head(-3, 1_700_000_100.5));
        // Cut before the step is known; zeros or fields out of order: no event of a writer.
        assert_eq!(step_and_wall_time(&bytes[..12]), Head::TooShort);
        assert_eq!(step_and_wall_time(&[0u8; 32]), Head::NotAnEvent);
        assert_eq!(
            step_and_wall_time(&[0x10, 5, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a]),
            Head::NotAnEvent
        );
        assert_eq!(step_and_wall_time(&[0xff; 32]), Head::TooShort);
    }

    fn tensor(dtype: i32, dims: &[i64]) -> TensorProto {
        TensorProto {
            dtype,
            tensor_shape: Some(TensorShapeProto {
                dim: dims.iter().map(|&size| Dim { size }).collect(),
                unknown_rank: false,
            }),
            tensor_content: Vec::new(),
            float_val: Vec::new(),
            double_val: Vec::new(),
        }
    }

    fn value(tensor: TensorProto, plugin: &str) -> SummaryValue {
        SummaryValue {
            tag: "t".into(),
            simple_value: None,
            tensor: Some(tensor),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: plugin.into(),
                }),
            }),
        }
    }

    #[test]
    fn every_scalar_encoding_is_read() {
        let mut t = tensor(DT_FLOAT, &[]);
        t.float_val.push(0.5);
        assert_eq!(value(t, "scalars").scalar(), Some(0.5));
        let mut t = tensor(DT_DOUBLE, &[]);
        t.double_val.push(0.1);
        assert_eq!(value(t, "").scalar(), Some(0.1));
        let mut t = tensor(DT_FLOAT, &[]);
        t.tensor_content = 0.25f32.to_le_bytes().to_vec();
        assert_eq!(value(t, "scalars").scalar(), Some(0.25));
        let mut t = tensor(DT_DOUBLE, &[]);
        t.tensor_content = 0.125f64.to_le_bytes().to_vec();
        assert_eq!(value(t, "scalars").scalar(), Some(0.125));
    }

    #[test]
    fn non_scalars_are_not_read() {
        let mut t = tensor(DT_DOUBLE, &[3]);
        t.double_val.extend([1.0, 2.0, 3.0]);
        assert_eq!(value(t, "scalars").scalar(), None);
        let mut t = tensor(DT_DOUBLE, &[]);
        t.double_val.push(1.0);
        assert_eq!(value(t, "histograms").scalar(), None);
        let mut t = tensor(3, &[]); // DT_INT32
        t.tensor_content = 1i32.to_le_bytes().to_vec();
        assert_eq!(value(t, "scalars").scalar(), None);
        let mut t = tensor(DT_FLOAT, &[]);
        t.tensor_content = vec![0, 0];
        assert_eq!(value(t, "scalars").scalar(), None);
    }
}
