//! Networks and losses for occluded re-ID on libtorch (tch 0.24).
//!
//! * [`resnet`]: torchvision-layout ResNet-18/34/50/101 with `last_stride` and BoT's stem switch.
//! * [`weights`]: load `.pth` (PyTorch zip state dicts) and `.safetensors` by parameter name, with a
//!   report of missing, unexpected and mis-shaped keys.
//! * [`methods`]: the [`methods::Method`] trait the training engine drives, and the methods (BoT).
pub mod layers;
pub mod losses;
pub mod methods;
pub mod resnet;
#[doc(hidden)]
pub mod testing;
pub mod weights;
