//! Occluder synthesis.
//!
//! * [`daao`]: DAAO's donor patch (spec §2.1): a rectangle of another training image pasted at the
//!   same coordinates, plus the full/occluded pair transform with shared or independent flip/jitter.
//! * [`igo`]: IGOAS's Incremental Generative Occlusion (spec §3.2): one solid rectangle per batch (or
//!   per emulated GPU shard), growing with the epoch, with its occlusion mask.
//! * [`robustness`]: a deterministic evaluation suite: {solid box, noise box, donor patch, pasted
//!   pedestrian} × area ratio × position, applied to query images by seed.
pub mod daao;
pub mod igo;
pub mod robustness;

pub use daao::{daao_box, paste_patch, pick_donor, DaaoOccluder, DaaoPair, PairAugment};
pub use igo::{batch_inc_erasing, igo_apply, igo_area_ratio, igo_draw, igo_draw_with, IgoOcclusion, IgoSchedule};
pub use robustness::{occlude, robustness_grid, OccludedImage, OccluderError, OccluderKind, Position, AREA_RATIOS};
