//! The disk tier: files that survive restarts and reloads, behind the memory tier.
mod codec;
mod index;
mod shared;
mod tier;
mod writer;

pub use index::{Indexed, Pick};
pub use tier::{DiskConfig, DiskTier, TierUsage};
