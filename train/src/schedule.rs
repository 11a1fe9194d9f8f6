//! The optimizer and the learning-rate schedule a run config asks for: burn's Adam, AdamW and
//! SGD (Nesterov momentum, as seed S1), burn's cosine annealing, and reduce-on-plateau (seed
//! S1's `ReduceLROnPlateau`), which burn does not have.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};

use serde::{Deserialize, Serialize};

use crate::config::{OptimizerConfig, OptimizerKind, ScheduleConfig, ScheduleKind};

pub fn optimizer(config: &OptimizerConfig) -> ModuleOptimizer {
    let decay = (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay));
    match config.kind {
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_weight_decay(config.weight_decay)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum(Some(
                MomentumConfig::new()
                    .with_momentum(config.momentum)
                    .with_dampening(0.0)
                    .with_nesterov(config.nesterov),
            ))
            .init(),
    }
}

/// Epochs since the validation loss last improved: what early stopping and the plateau
/// schedule both watch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Improvement {
    best_loss: f32,
    pub epochs_without: usize,
}

impl Default for Improvement {
    fn default() -> Self {
        Self {
            best_loss: f32::INFINITY,
            epochs_without: 0,
        }
    }
}

impl Improvement {
    /// Records an epoch's validation loss; true if it is the best so far.
    pub fn observe(&mut self, validation_loss: f32) -> bool {
        let improved = validation_loss < self.best_loss;
        if improved {
            self.best_loss = validation_loss;
            self.epochs_without = 0;
        } else {
            self.epochs_without += 1;
        }
        improved
    }
}

pub enum Schedule {
    Constant(f64),
    Cosine {
        scheduler: ModuleLrScheduler,
        steps: usize,
    },
    Plateau {
        learning_rate: f64,
        min_lr: f64,
        factor: f64,
        patience: usize,
        improvement: Improvement,
    },
}

impl Schedule {
    pub fn new(
        config: &ScheduleConfig,
        learning_rate: f64,
        total_steps: usize,
    ) -> anyhow::Result<Self> {
        Ok(match config.kind {
            ScheduleKind::Constant => Schedule::Constant(learning_rate),
            ScheduleKind::Cosine => Schedule::Cosine {
                scheduler: CosineAnnealingLrSchedulerConfig::new(learning_rate, total_steps.max(1))
                    .with_min_lr(config.min_lr.min(learning_rate))
                    .init()
                    .map_err(|problem| anyhow::anyhow!("bad cosine schedule: {problem}"))?,
                steps: 0,
            },
            ScheduleKind::Plateau => Schedule::Plateau {
                learning_rate,
                min_lr: config.min_lr,
                factor: config.factor,
                patience: config.patience,
                improvement: Improvement::default(),
            },
        })
    }

    /// The learning rate for the next optimizer step.
    pub fn step(&mut self) -> f64 {
        match self {
            Schedule::Constant(learning_rate) => *learning_rate,
            Schedule::Cosine { scheduler, steps } => {
                *steps += 1;
                scheduler.step().base()
            }
            Schedule::Plateau { learning_rate, .. } => *learning_rate,
        }
    }

    /// Told each epoch's validation loss; a plateau lowers the rate.
    pub fn end_epoch(&mut self, validation_loss: f32) {
        if let Schedule::Plateau {
            learning_rate,
            min_lr,
            factor,
            patience,
            improvement,
        } = self
            && !improvement.observe(validation_loss)
            && improvement.epochs_without > *patience
        {
            *learning_rate = (*learning_rate * *factor).max(*min_lr);
            improvement.epochs_without = 0;
        }
    }
}

/// What a checkpoint keeps of a schedule; the rest comes from the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ScheduleState {
    Constant,
    Cosine {
        steps: usize,
    },
    Plateau {
        learning_rate: f64,
        improvement: Improvement,
    },
}

impl Schedule {
    pub fn state(&self) -> ScheduleState {
        match self {
            Schedule::Constant(_) => ScheduleState::Constant,
            Schedule::Cosine { steps, .. } => ScheduleState::Cosine { steps: *steps },
            Schedule::Plateau {
                learning_rate,
                improvement,
                ..
            } => ScheduleState::Plateau {
                learning_rate: *learning_rate,
                improvement: improvement.clone(),
            },
        }
    }

    /// Puts a freshly built schedule (same config) where a checkpoint left it.
    pub fn restore(&mut self, state: ScheduleState) {
        match state {
            // burn's cosine scheduler keeps its position privately: replay the steps.
            ScheduleState::Cosine { steps: done } => {
                while matches!(self, Schedule::Cosine { steps, .. } if *steps < done) {
                    self.step();
                }
            }
            ScheduleState::Plateau {
                learning_rate: saved,
                improvement: saved_improvement,
            } => {
                if let Schedule::Plateau {
                    learning_rate,
                    improvement,
                    ..
                } = self
                {
                    *learning_rate = saved;
                    *improvement = saved_improvement;
                }
            }
            ScheduleState::Constant => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ScheduleKind) -> Schedule {
        let config = ScheduleConfig {
            kind,
            min_lr: 1e-4,
            factor: 0.5,
            patience: 1,
        };
        Schedule::new(&config, 0.1, 10).unwrap()
    }

    #[test]
    fn cosine_falls_from_the_learning_rate_to_the_minimum() {
        let mut cosine = schedule(ScheduleKind::Cosine);
        let rates: Vec<f64> = (0..11).map(|_| cosine.step()).collect();
        assert!((rates[0] - 0.1).abs() < 1e-9, "{rates:?}");
        assert!(rates.windows(2).all(|w| w[1] <= w[0]), "{rates:?}");
        assert!((rates[10] - 1e-4).abs() < 1e-6, "{rates:?}");
    }

    #[test]
    fn plateau_lowers_the_rate_only_after_patience_epochs_without_improvement() {
        let mut plateau = schedule(ScheduleKind::Plateau);
        plateau.end_epoch(1.0);
        plateau.end_epoch(1.1); // one bad epoch: within patience
        assert_eq!(plateau.step(), 0.1);
        plateau.end_epoch(1.2); // two: lower
        assert_eq!(plateau.step(), 0.05);
        plateau.end_epoch(0.5); // better: the count starts again
        plateau.end_epoch(0.6);
        assert_eq!(plateau.step(), 0.05);
    }

    #[test]
    fn improvement_counts_epochs_since_the_best_loss() {
        let mut improvement = Improvement::default();
        assert!(improvement.observe(1.0));
        assert!(!improvement.observe(1.0), "equal is not better");
        assert!(!improvement.observe(2.0));
        assert_eq!(improvement.epochs_without, 2);
        assert!(improvement.observe(0.9));
        assert_eq!(improvement.epochs_without, 0);
    }

    #[test]
    fn a_restored_schedule_continues_where_the_saved_one_was() {
        for kind in [ScheduleKind::Cosine, ScheduleKind::Plateau] {
            let mut original = schedule(kind);
            for loss in [1.0, 1.1, 1.2] {
                original.step();
                original.step();
                original.end_epoch(loss);
            }
            let mut restored = schedule(kind);
            restored.restore(original.state());
            let next: Vec<f64> = (0..3).map(|_| original.step()).collect();
            let resumed: Vec<f64> = (0..3).map(|_| restored.step()).collect();
            assert_eq!(next, resumed, "{kind:?}");
        }
    }

    #[test]
    fn constant_stays() {
        let mut constant = schedule(ScheduleKind::Constant);
        constant.end_epoch(3.0);
        constant.end_epoch(4.0);
        assert_eq!(constant.step(), 0.1);
    }
}
