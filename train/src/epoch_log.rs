//! `log.csv`, the run's learning curve: one row per epoch (resumed epochs included), written by
//! the training loop and read back by the report through the same type.

use serde::{Deserialize, Serialize};

/// What one epoch measured; also the `best` epoch a pack's training summary comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// The learning rate of the epoch's last step.
    pub learning_rate: f64,
    pub train_loss: f32,
    pub validation_loss: f32,
    pub validation_accuracy: f32,
}

/// `rows` as CSV with a header line.
pub fn to_csv(rows: &[EpochMetrics]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row)?;
    }
    if rows.is_empty() {
        writer.write_record([
            "epoch",
            "learning_rate",
            "train_loss",
            "validation_loss",
            "validation_accuracy",
        ])?;
    }
    Ok(writer.into_inner().map_err(|error| error.into_error())?)
}

/// The rows of a `log.csv` that [`to_csv`] wrote.
pub fn from_csv(bytes: &[u8]) -> anyhow::Result<Vec<EpochMetrics>> {
    csv::Reader::from_reader(bytes)
        .deserialize()
        .map(|row| row.map_err(|error| anyhow::anyhow!("log.csv: {error}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_reads_back_as_it_was_written() {
        let rows = vec![
            EpochMetrics {
                epoch: 1,
                learning_rate: 1e-3,
                train_loss: 0.69,
                validation_loss: 0.65,
                validation_accuracy: 0.6,
            },
            EpochMetrics {
                epoch: 2,
                learning_rate: 5e-4,
                train_loss: 0.5,
                validation_loss: 0.45,
                validation_accuracy: 0.8,
            },
        ];
        let csv = to_csv(&rows).unwrap();
        assert!(
            String::from_utf8_lossy(&csv).starts_with(
                "epoch,learning_rate,train_loss,validation_loss,validation_accuracy\n"
            )
        );
        assert_eq!(from_csv(&csv).unwrap(), rows);
        assert_eq!(from_csv(&to_csv(&[]).unwrap()).unwrap(), vec![]);
        assert!(from_csv(b"epoch,learning_rate\n1,2,3\n").is_err());
    }
}
