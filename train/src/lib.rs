//! The Veil trainer as a library: datasets, training, calibration and the run folder, each a
//! module that tests and the `veil-train` command line call directly. Laid out like burn's
//! examples, one concept a file: `data` → `training` → `inference` → `calibrate` → `run`.

pub mod augment;
pub mod bench;
pub mod calibrate;
pub mod checkpoint;
pub mod concept;
pub mod config;
pub mod data;
pub mod describe;
pub mod device;
pub mod epoch_log;
pub mod files;
pub mod inference;
pub mod label_bench;
pub mod metrics;
pub mod pretrained;
pub mod progress;
pub mod report;
pub mod run;
pub mod run_folder;
pub mod schedule;
pub mod suggest;
pub mod training;
