//! The nearest gallery images of a query by feature distance: [`exact`] over a gallery read one shard at
//! a time (any size, bounded memory), [`hnsw`] approximate for galleries of millions, with its recall
//! measured against exact search.
pub mod exact;
pub mod hnsw;
pub mod synthetic;
