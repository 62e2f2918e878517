use super::write::header_bytes;
use super::*;

#[test]
fn round_trip_and_header_alignment() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.npy");
    write_f32(&p, &[2, 3], &[1., 2., 3., 4., 5., 6.]).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!((bytes.len() - 24) % 64, 0, "data must start on a 64-byte boundary");
    let m = read_matrix(&p).unwrap();
    assert_eq!((m.rows(), m.cols()), (2, 3));
    assert_eq!(m.row(1), &[4., 5., 6.]);
    let l = dir.path().join("l.npy");
    write_i64(&l, &[7, -1, 3]).unwrap();
    assert_eq!(read_labels(&l).unwrap(), vec![7, -1, 3]);
}

#[test]
fn a_matrix_written_in_blocks_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.npy");
    // 7 rows in blocks of 3: the last block is short.
    write_f32_blocks(&p, 7, 2, 3, |first, n| {
        (first..first + n).flat_map(|r| [r as f32, -(r as f32)]).collect()
    })
    .unwrap();
    let m = read_matrix(&p).unwrap();
    assert_eq!((m.rows(), m.cols()), (7, 2));
    assert_eq!(m.row(6), &[6.0, -6.0]);
    assert_eq!(m.row(3), &[3.0, -3.0]);
}

#[test]
fn errors_name_file_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("labels.npy");
    write_i64(&l, &[1, 2]).unwrap();
    let e = read_matrix(&l).unwrap_err().to_string();
    assert!(e.contains("labels.npy") && e.contains("2-D"), "{e}");
    let m = dir.path().join("m.npy");
    write_f32(&m, &[1, 2], &[0.5, 1.5]).unwrap();
    let e = read_labels(&m).unwrap_err().to_string();
    assert!(e.contains("1-D"), "{e}");
    let v = dir.path().join("v.npy");
    write_f32(&v, &[2], &[0.5, 1.5]).unwrap();
    let e = read_labels(&v).unwrap_err().to_string();
    assert!(e.contains("int64"), "{e}");
    let e = read_labels_for(&l, 3, "query ids").unwrap_err().to_string();
    assert!(e.contains("[3]") && e.contains("query ids"), "{e}");
    let junk = dir.path().join("junk.npy");
    std::fs::write(&junk, b"hello world, not numpy").unwrap();
    assert!(read_matrix(&junk).unwrap_err().to_string().contains("magic"));
    let mut truncated = std::fs::read(&m).unwrap();
    truncated.truncate(truncated.len() - 2);
    std::fs::write(&m, &truncated).unwrap();
    assert!(read_matrix(&m).unwrap_err().to_string().contains("truncated"));
    let nan = dir.path().join("nan.npy");
    write_f32(&nan, &[1, 2], &[0.5, f32::NAN]).unwrap();
    assert!(read_matrix(&nan).unwrap_err().to_string().contains("NaN"));
}

#[test]
fn headers_are_read_as_numpy_writes_them_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let with_header = |name: &str, dict: &str| {
        let path = dir.path().join(name);
        let mut h = dict.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(&[0u8; 8]);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // numpy's own forms: keys in any order, double quotes, no trailing comma.
    for dict in [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }",
        "{'shape': (1, 2), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1, 2)}",
    ] {
        let m = read_matrix(with_header("ok.npy", dict)).unwrap_or_else(|e| panic!("{dict}: {e}"));
        assert_eq!((m.rows(), m.cols()), (1, 2));
    }
    for (dict, why) in [
        (
            "'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)",
            "is not a {...} dict",
        ),
        (
            "x{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}",
            "is not a {...} dict",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), 'extra': 1}",
            "unknown key 'extra'",
        ),
        (
            "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1, 2)}",
            "repeats 'descr'",
        ),
        ("{'descr': '<f4', 'fortran_order': False}", "no 'shape'"),
        (
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 2)}",
            "not True or False",
        ),
        (
            "{'descr': '<f4' 'fortran_order': False, 'shape': (1, 2)}",
            "text after the value of 'descr'",
        ),
        (
            "{descr: '<f4', 'fortran_order': False, 'shape': (1, 2)}",
            "unquoted key",
        ),
        (
            "{'descr': '<f4, 'fortran_order': False, 'shape': (1, 2)}",
            "text after the value of 'descr'",
        ),
        (
            "{'descr' '<f4', 'fortran_order': False, 'shape': (1, 2)}",
            "no ':' after 'descr'",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2}",
            "unterminated value for 'shape'",
        ),
        // A multi-byte character where the byte-order mark goes (found by the property tests).
        (
            "{'descr': 'é<f4', 'fortran_order': False, 'shape': (1, 2)}",
            "unrecognised dtype descr 'é<f4'",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, x)}",
            "malformed shape",
        ),
    ] {
        let e = read_matrix(with_header("bad.npy", dict)).unwrap_err().to_string();
        assert!(e.contains("bad.npy") && e.contains(why), "{dict}: {e}");
    }
}

#[test]
fn a_mapped_matrix_reads_every_layout_as_row_major_f32() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (7, 5);
    let value = |r: usize, c: usize| r as f64 * 10.0 + c as f64 + 0.25;
    for (descr, fortran, in_place) in [
        ("<f4", false, true),
        ("<f8", false, false),
        ("<f4", true, false),
        (">f4", false, false),
        (">f8", true, false),
    ] {
        let p = dir.path().join("m.npy");
        write_layout(&p, descr, fortran, rows, cols, value).unwrap();
        let file = MatrixFile::open(&p).unwrap();
        assert_eq!(file.in_place().is_some(), in_place, "{descr} fortran={fortran}");
        let data = file.load().unwrap();
        let m = data.view();
        assert_eq!((m.rows(), m.cols()), (rows, cols));
        for r in 0..rows {
            let want: Vec<f32> = (0..cols).map(|c| value(r, c) as f32).collect();
            assert_eq!(m.row(r), &want[..], "{descr} fortran={fortran} row {r}");
        }
        // A block that does not start at row 0 and ends before the last row.
        let mut block = vec![0f32; 3 * cols];
        file.read_rows(2, &mut block).unwrap();
        assert_eq!(
            &block[..],
            &m.as_slice()[2 * cols..5 * cols],
            "{descr} fortran={fortran}"
        );
        file.release_rows(2, 3);
        file.read_rows(2, &mut block).unwrap();
        assert_eq!(&block[..], &m.as_slice()[2 * cols..5 * cols], "after release");
        // The reader of whole files agrees.
        assert_eq!(read_matrix(&p).unwrap().as_slice(), m.as_slice());
    }
    // A one-column Fortran-order array is also row-major: read in place.
    let p = dir.path().join("col.npy");
    write_layout(&p, "<f4", true, 6, 1, value).unwrap();
    assert!(MatrixFile::open(&p).unwrap().in_place().is_some());
}

#[test]
fn a_mapped_matrix_refuses_labels_and_names_a_nan() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("labels.npy");
    write_layout(&l, "<i8", false, 2, 2, |_, _| 0.0).unwrap();
    let e = MatrixFile::open(&l).err().unwrap().to_string();
    assert!(e.contains("labels.npy") && e.contains("float32 or float64"), "{e}");
    let p = dir.path().join("nan.npy");
    write_layout(
        &p,
        "<f8",
        false,
        3,
        2,
        |r, c| if (r, c) == (2, 1) { f64::NAN } else { 1.0 },
    )
    .unwrap();
    let file = MatrixFile::open(&p).unwrap();
    let e = file.load().err().unwrap().to_string();
    assert!(e.contains("nan.npy") && e.contains("flat index 5"), "{e}");
}

#[test]
fn shapes_that_overflow_and_trailing_bytes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // A header whose shape product wraps to 0 in 64 bits (4 * 2^60 * 4 bytes), with no data.
    let huge = dir.path().join("huge.npy");
    std::fs::write(&huge, header_bytes("<f4", &[4, 1 << 60])).unwrap();
    let e = read_matrix(&huge).unwrap_err().to_string();
    assert!(e.contains("huge.npy") && e.contains("too large"), "{e}");
    let long = dir.path().join("long.npy");
    let mut bytes = header_bytes("<f4", &[1, 2]);
    bytes.extend_from_slice(&[0u8; 12]);
    std::fs::write(&long, bytes).unwrap();
    let e = read_matrix(&long).unwrap_err().to_string();
    assert!(e.contains("4 bytes after the data"), "{e}");
}
