//! One module per subcommand: its flags and a `run` that turns them into library calls and
//! prints the outcome.

pub mod bench;
pub mod concept;
pub mod eval;
pub mod export;
pub mod label_bench;
pub mod predict;
pub mod suggest;
pub mod train;
