//! Property tests: random and mutated `.npy` files give an array or an error naming the file, never a
//! panic, a hang or an allocation the file cannot back. A fixed number of cases keeps CI time bounded.
use std::path::Path;

use occreid_eval::npy::{read_f32_array, read_labels, read_matrix, write_f32, write_i64};
use proptest::collection::vec;
use proptest::prelude::*;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every reader over `bytes` written to a file: each returns, and each error names the file.
fn read_all_ways(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.npy");
    std::fs::write(&path, bytes).unwrap();
    let errors = [
        read_matrix(&path).err().map(|e| e.to_string()),
        read_labels(&path).err().map(|e| e.to_string()),
        read_f32_array(&path).err().map(|e| e.to_string()),
    ];
    for e in errors.into_iter().flatten() {
        assert!(e.contains("input.npy"), "error without the file name: {e}");
    }
}

/// A version-`version` preamble with `len` as its header-length field, then `header` and `data`.
fn npy(version: u8, len: u32, header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY".to_vec();
    b.extend([version, 0]);
    if version == 1 {
        b.extend((len as u16).to_le_bytes());
    } else {
        b.extend(len.to_le_bytes());
    }
    b.extend(header.as_bytes());
    b.extend(data);
    b
}

fn valid_file(labels: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.npy");
    if labels {
        write_i64(&path, &[3, -1, 7, 0]).unwrap();
    } else {
        write_f32(&path, &[2, 3], &[0.5, 1.0, -2.0, 3.5, 0.0, 1e-3]).unwrap();
    }
    std::fs::read(path).unwrap()
}

/// Header text numpy could write or nearly: fragments of real headers and random printable characters.
fn header_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("'descr': '<f4', ".to_string()),
        Just("'descr': '>i8', ".to_string()),
        Just("'fortran_order': False, ".to_string()),
        Just("'fortran_order': True, ".to_string()),
        Just("'shape': (2, 3), ".to_string()),
        Just("'shape': (18446744073709551615, 2), ".to_string()),
        Just("'shape': (), ".to_string()),
        "[ -~]{0,12}",
    ];
    vec(fragment, 0..8).prop_map(|parts| parts.concat() + "\n")
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn random_bytes(bytes in vec(any::<u8>(), 0..300)) {
        read_all_ways(&bytes);
    }

    #[test]
    fn random_headers_and_length_fields(
        header in header_text(),
        version in 1u8..=3,
        len in prop_oneof![Just(None), any::<u32>().prop_map(Some)],
        data in vec(any::<u8>(), 0..64),
    ) {
        let len = len.unwrap_or(header.len() as u32);
        read_all_ways(&npy(version, len, &header, &data));
    }

    #[test]
    fn mutated_valid_files(
        labels in any::<bool>(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = valid_file(labels);
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        read_all_ways(&bytes);
    }
}

#[test]
fn a_huge_header_length_is_refused_before_allocating() {
    // 4 GiB claimed by a 12-byte file: an error, not an allocation.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge_header.npy");
    std::fs::write(&path, npy(2, u32::MAX, "", &[])).unwrap();
    let e = read_matrix(Path::new(&path)).unwrap_err().to_string();
    assert!(e.contains("huge_header.npy") && e.contains("runs past the end"), "{e}");
}
