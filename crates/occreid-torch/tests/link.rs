//! Proves the libtorch link: a tensor op with autograd, and reports CUDA availability.
use occreid_torch::tch::{Kind, Tensor};

#[test]
fn autograd_through_linked_libtorch() {
    // y = sum(x^3) -> dy/dx = 3 x^2, checked against the closed form (not against libtorch itself).
    let x = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).set_requires_grad(true);
    let y = x.pow_tensor_scalar(3).sum(Kind::Float);
    y.backward();
    let grad: Vec<f32> = Vec::try_from(x.grad()).unwrap();
    assert_eq!(grad, vec![3.0, 12.0, 0.75]);
    println!("{}", occreid_torch::runtime_summary());
}

#[test]
fn device_choice_parses_and_rejects() {
    use occreid_torch::DeviceChoice;
    assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
    assert!("gpu".parse::<DeviceChoice>().is_err());
    assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), occreid_torch::tch::Device::Cpu);
}
