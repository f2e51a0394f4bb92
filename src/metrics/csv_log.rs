//! CSV metric logs, e.g. Lightning's `CSVLogger` `metrics.csv`: one header, sparse rows (train
//! and validation metrics on separate rows with empty cells), and a file that Lightning
//! rewrites whole, so it may be caught truncated. Anything unparsable means "no metric yet".

use super::named::Metrics;
use super::run_log::{FileRecords, Interest, RunLog};
use crate::pattern::parse_number;

pub fn parse(
    text: &[u8],
    step_key: &str,
    metric: Option<&str>,
    interest: &Interest,
) -> FileRecords {
    // Every row a CSV writer finishes ends with a newline. Without one the file was caught
    // mid-write, and its last number may be cut short (`0.53` read as `0.`): a wrong value
    // could rank a checkpoint best, so trust none of the file yet.
    if !text.is_empty() && !text.ends_with(b"\n") {
        return Err("does not end with a newline: caught mid-write".to_owned());
    }
    let mut reader = csv::Reader::from_reader(text);
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let step_col = column(step_key).ok_or_else(|| format!("no `{step_key}` column"))?;
    let metric_col = metric.and_then(column);
    let mut log = RunLog::default();
    for row in reader.records() {
        // A short or broken row is a file caught mid-rewrite: trust none of it.
        let row = row.map_err(|e| e.to_string())?;
        let Some(step) = row.get(step_col).and_then(parse_step) else {
            continue;
        };
        log.max_step = log.max_step.max(Some(step));
        let value = metric_col
            .and_then(|c| row.get(c))
            .filter(|cell| !cell.trim().is_empty())
            .and_then(parse_number);
        if let Some(value) = value {
            log.records.push((step, value));
        }
        if interest.contains(step) {
            let mut row_metrics = Metrics::default();
            for (name, cell) in headers.iter().zip(row.iter()) {
                let cell = cell.trim();
                if name != step_key && !cell.is_empty() {
                    if let Some(n) = parse_number(cell) {
                        row_metrics.insert(name, n);
                    }
                }
            }
            if !row_metrics.is_empty() {
                log.rows.push((step, row_metrics));
            }
        }
    }
    Ok(log)
}

/// Steps as loggers write them: `500`, or `500.0` from a float column.
fn parse_step(cell: &str) -> Option<u64> {
    let cell = cell.trim();
    cell.parse::<u64>().ok().or_else(|| {
        let f = cell.parse::<f64>().ok()?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIGHTNING: &str = "epoch,step,train_loss,val_loss\n\
        0,49,0.9,\n\
        0,99,,0.70\n\
        1,149,0.6,\n\
        1,199,,nan\n";

    #[test]
    fn sparse_lightning_rows_give_the_validation_records() {
        let log = parse(
            LIGHTNING.as_bytes(),
            "step",
            Some("val_loss"),
            &Interest::default(),
        )
        .unwrap();
        assert_eq!(log.records.len(), 2);
        assert_eq!(log.records[0], (99, 0.70));
        assert_eq!(log.records[1].0, 199);
        assert!(log.records[1].1.is_nan());
        assert_eq!(log.max_step, Some(199));
    }

    #[test]
    fn a_file_truncated_mid_row_gives_nothing() {
        let truncated = &LIGHTNING[..LIGHTNING.len() - 8];
        assert!(parse(
            truncated.as_bytes(),
            "step",
            Some("val_loss"),
            &Interest::default()
        )
        .is_err());
    }

    #[test]
    fn a_number_cut_short_at_the_end_is_not_read() {
        let cut = "epoch,step,val_loss\n0,99,0.5\n0,199,0.";
        assert!(parse(
            cut.as_bytes(),
            "step",
            Some("val_loss"),
            &Interest::default()
        )
        .is_err());
    }

    #[test]
    fn a_missing_step_column_is_an_error_and_a_missing_metric_column_is_no_records() {
        assert!(parse(
            b"epoch,loss\n0,1\n",
            "step",
            Some("loss"),
            &Interest::default()
        )
        .is_err());
        let log = parse(
            b"step,loss\n5,1\n",
            "step",
            Some("val_loss"),
            &Interest::default(),
        )
        .unwrap();
        assert!(log.records.is_empty());
        assert_eq!(log.max_step, Some(5));
    }
}
