//! Line understanding shared by agent and collector.
pub mod baseline;
pub mod classes;
pub mod detect;
pub mod drain;
pub mod judge;
pub mod level;
pub mod mask;
pub mod multiline;
pub mod score;
