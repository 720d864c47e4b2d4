pub mod dead_letters;
pub mod health;
pub mod probes;
