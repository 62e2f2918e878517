//! The evaluation occlusion suite: geometry per position, coverage per ratio, content per kind,
//! determinism by seed, and errors.
use std::path::PathBuf;

use occreid_data::occluders::{occlude, robustness_grid, OccluderError, OccluderKind, Position};
use occreid_data::transforms::{decode, resize, Interpolation, RgbImage};

fn png(name: &str) -> RgbImage {
    decode(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/transforms")
            .join(name),
    )
    .unwrap()
}

#[test]
fn every_setting_covers_its_ratio_at_its_position() {
    let query = png("in_market.png"); // 64 x 128
    let donor = png("in_small.png");
    let grid = robustness_grid();
    assert_eq!(grid.len(), 120);
    for (i, &(kind, ratio, pos)) in grid.iter().enumerate() {
        let o = occlude(&query, kind, ratio, pos, i as u64, Some(&donor)).unwrap();
        let r = o.rect;
        assert_eq!(o.image.dimensions(), query.dimensions());
        assert!(
            (o.covered() - ratio).abs() < 0.02,
            "{kind:?} {ratio} {pos:?}: covered {}",
            o.covered()
        );
        match pos {
            Position::Top => assert!(r.top == 0 && r.width == 64),
            Position::Bottom => assert!(r.top + r.height == 128 && r.width == 64),
            Position::Left => assert!(r.left == 0 && r.height == 128),
            Position::Right => assert!(r.left + r.width == 64 && r.height == 128),
            Position::Random => assert!(r.top + r.height <= 128 && r.left + r.width <= 64),
        }
        // The mask is exactly the rectangle, and nothing outside it changed.
        for (x, y, p) in o.image.enumerate_pixels() {
            let inside = r.contains(y as usize, x as usize);
            assert_eq!(o.mask[y as usize * 64 + x as usize], inside as u8);
            if !inside {
                assert_eq!(p, query.get_pixel(x, y));
            }
        }
    }
}

#[test]
fn same_seed_same_output_other_seed_other_output() {
    let query = png("in_market.png");
    let donor = png("in_small.png");
    for kind in OccluderKind::ALL {
        let a = occlude(&query, kind, 0.3, Position::Random, 42, Some(&donor)).unwrap();
        let b = occlude(&query, kind, 0.3, Position::Random, 42, Some(&donor)).unwrap();
        let c = occlude(&query, kind, 0.3, Position::Random, 43, Some(&donor)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.image, c.image, "{kind:?}");
    }
}

#[test]
fn content_per_kind() {
    let query = png("in_market.png");
    let donor = png("in_large.png");
    let solid = occlude(&query, OccluderKind::SolidBox, 0.2, Position::Top, 1, None).unwrap();
    let first = *solid.image.get_pixel(0, 0);
    assert!((0..solid.rect.height as u32).all(|y| (0..64).all(|x| *solid.image.get_pixel(x, y) == first)));
    let noise = occlude(&query, OccluderKind::NoiseBox, 0.2, Position::Top, 1, None).unwrap();
    let distinct: std::collections::HashSet<_> = (0..64).map(|x| noise.image.get_pixel(x, 3).0).collect();
    assert!(distinct.len() > 50);
    // Pedestrian: the whole donor, resized into the band.
    let ped = occlude(&query, OccluderKind::Pedestrian, 0.5, Position::Bottom, 1, Some(&donor)).unwrap();
    let r = ped.rect;
    let scaled = resize(&donor, r.height as u32, r.width as u32, Interpolation::Bilinear);
    for (x, y, p) in scaled.enumerate_pixels() {
        assert_eq!(p, ped.image.get_pixel(x + r.left as u32, y + r.top as u32));
    }
    // Donor patch: the same rectangle of the donor (resized to the query size) at the same place.
    let patch = occlude(&query, OccluderKind::DonorPatch, 0.3, Position::Random, 5, Some(&donor)).unwrap();
    let full = resize(&donor, 128, 64, Interpolation::Bilinear);
    for (x, y, p) in patch.image.enumerate_pixels() {
        if patch.rect.contains(y as usize, x as usize) {
            assert_eq!(p, full.get_pixel(x, y));
        }
    }
}

#[test]
fn errors_are_reported() {
    let query = png("in_market.png");
    assert_eq!(
        occlude(&query, OccluderKind::DonorPatch, 0.3, Position::Top, 0, None).unwrap_err(),
        OccluderError::NeedsDonor(OccluderKind::DonorPatch)
    );
    assert_eq!(
        occlude(&query, OccluderKind::SolidBox, 0.0, Position::Top, 0, None).unwrap_err(),
        OccluderError::BadRatio(0.0)
    );
    assert!(occlude(&query, OccluderKind::SolidBox, 1.5, Position::Top, 0, None).is_err());
}

#[test]
fn names_are_the_config_names() {
    for kind in OccluderKind::ALL {
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.name()));
    }
    for position in Position::ALL {
        assert_eq!(
            serde_json::to_string(&position).unwrap(),
            format!("\"{}\"", position.name())
        );
    }
}
