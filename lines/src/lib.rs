//! Line understanding shared by agent and collector.
pub mod detect;
pub mod drain;
pub mod level;
pub mod mask;
pub mod score;
