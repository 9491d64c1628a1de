//! One negative test per rejection rule: each names the line, the byte offset
//! and what was expected, for every chunking.

mod common;

use asb_format::{ErrorKind, ParseError, ParserOptions};
use common::parse_chunked;

const HEAD: &str = "Version 3.1\n# namespace test\n";
const REC: &str = "+ n test\n+ d AxYfNSyKuFRIlSyJbs2qEis8TnE=\n+ s demo\n+ g 3\n+ t 0\n";

/// The error for `input`, checked to be the same for several chunkings.
fn err_with(input: &str, opts: ParserOptions) -> ParseError {
    let data = input.as_bytes();
    let e = parse_chunked(data, &[usize::MAX], opts.clone()).expect_err("input must be rejected");
    for sizes in [&[1][..], &[2], &[7], &[5, 1, 3]] {
        let e2 = parse_chunked(data, sizes, opts.clone()).expect_err("rejected when chunked");
        assert_eq!(e, e2, "chunks {sizes:?}");
    }
    e
}

fn err(input: &str) -> ParseError {
    err_with(input, ParserOptions::default())
}

/// A record with one bin line (without its LF) appended, after the header.
fn with_bin(bin: &str) -> String {
    format!("{HEAD}{REC}+ b 1\n{bin}\n")
}

/// Offset of the bin line in [`with_bin`]'s output.
fn bin_offset() -> u64 {
    (HEAD.len() + REC.len() + "+ b 1\n".len()) as u64
}

fn expected(e: &ParseError) -> &'static str {
    match &e.kind {
        ErrorKind::Unexpected { expected, .. } | ErrorKind::UnexpectedEof { expected } => expected,
        k => panic!("not an Unexpected error: {k:?}"),
    }
}

#[test]
fn crlf_header_is_rejected() {
    let e = err("Version 3.1\r\n");
    assert_eq!((e.line, e.offset), (1, 11));
    assert_eq!(expected(&e), "LF after version");
}

#[test]
fn cr_in_a_number_is_rejected() {
    let e = err(&format!(
        "{HEAD}+ n test\n+ d AxYfNSyKuFRIlSyJbs2qEis8TnE=\n+ g 3\r\n"
    ));
    assert_eq!(e.line, 5);
    assert_eq!(e.offset, (HEAD.len() + 9 + 33 + 5) as u64);
    assert_eq!(expected(&e), "digit or LF");
}

#[test]
fn blank_line_is_rejected() {
    let e = err("Version 3.1\n\n");
    assert_eq!((e.line, e.offset), (2, 12));
    assert_eq!(expected(&e), "'*' or '+' at start of entity");
    let e = err(&format!("{HEAD}\n"));
    assert_eq!((e.line, e.offset), (3, HEAD.len() as u64));
}

#[test]
fn unknown_bin_letter_is_rejected() {
    let e = err(&with_bin("- x v 1"));
    assert_eq!(e.line, 9);
    assert_eq!(e.offset, bin_offset() + 2);
    assert!(expected(&e).starts_with("bin type"));
}

#[test]
fn ldt_bin_is_rejected() {
    let e = err(&with_bin("- U v 1"));
    assert_eq!(e.kind, ErrorKind::Ldt);
    assert_eq!(e.offset, bin_offset() + 2);
}

#[test]
fn unknown_record_line_is_rejected() {
    let e = err(&format!("{HEAD}+ z 1\n"));
    assert_eq!((e.line, e.offset), (3, HEAD.len() as u64 + 2));
    assert_eq!(expected(&e), "\"+ k\" or \"+ n\" line");
    // Header lines out of order: + g before + d.
    let e = err(&format!("{HEAD}+ n test\n+ g 1\n"));
    assert_eq!(e.line, 4);
    assert_eq!(expected(&e), "LF then \"+ d \" line");
}

#[test]
fn unknown_global_and_meta_lines_are_rejected() {
    let e = err(&format!("{HEAD}* z x\n"));
    assert_eq!(e.offset, HEAD.len() as u64 + 2);
    assert_eq!(expected(&e), "global line type 'i' or 'u'");
    let e = err("Version 3.1\n# other\n");
    assert_eq!((e.line, e.offset), (2, 14));
    let e = err(&format!("{HEAD}{REC}+ b 0\n# namespace test\n"));
    assert_eq!(expected(&e), "'*' or '+' at start of entity");
    let e = err(&format!("{HEAD}+ k Q 1\n"));
    assert_eq!(expected(&e), "key type I, D, S, X or B");
}

#[test]
fn missing_final_lf_is_rejected() {
    let input = with_bin("- I v 5");
    let input = &input[..input.len() - 1];
    let e = err(input);
    assert_eq!(
        e.kind,
        ErrorKind::UnexpectedEof {
            expected: "integer"
        }
    );
    assert_eq!(e.offset, input.len() as u64);
    assert_eq!(e.line, 9);
    // Inside a length-prefixed value.
    let input = with_bin("- S v 5 abc");
    let e = err(&input[..input.len() - 1]);
    assert_eq!(e.kind, ErrorKind::UnexpectedEof { expected: "string" });
}

#[test]
fn bad_base64_is_rejected() {
    let e = err(&with_bin("- B v 4 A!A="));
    assert_eq!(
        e.kind,
        ErrorKind::Base64 {
            what: "base64 bytes"
        }
    );
    assert_eq!(e.offset, bin_offset() + 8);
    let e = err(&with_bin("- B v 3 AAA"));
    assert!(matches!(e.kind, ErrorKind::OutOfRange { .. }), "{e}");
    let e = err(&format!(
        "{HEAD}+ n test\n+ d AxYfNSyKuFRIlSyJbs2qEis8Tn==\n"
    ));
    assert_eq!(e.kind, ErrorKind::Base64 { what: "digest" });
}

#[test]
fn out_of_range_numbers_are_rejected() {
    let base = format!("{HEAD}+ n test\n+ d AxYfNSyKuFRIlSyJbs2qEis8TnE=\n");
    for (tail, what, value) in [
        ("+ g 65536\n", "generation", "65536"),
        ("+ g -1\n", "generation", "-1"),
        ("+ g 1\n+ t 4294967296\n", "void time", "4294967296"),
        ("+ g 1\n+ t -1\n", "void time", "-1"),
        ("+ g 1\n+ t 0\n+ b 65536\n", "bin count", "65536"),
    ] {
        let e = err(&format!("{base}{tail}"));
        assert_eq!(
            e.kind,
            ErrorKind::OutOfRange {
                what,
                value: value.to_owned()
            }
        );
    }
    let e = err(&with_bin("- I v 9223372036854775808"));
    assert!(matches!(
        e.kind,
        ErrorKind::OutOfRange {
            what: "integer",
            ..
        }
    ));
    // Found by fuzzing: the message must not depend on how much input follows.
    let e = err(&with_bin("- I v 92233720368547758070000"));
    assert_eq!(
        e.kind,
        ErrorKind::OutOfRange {
            what: "integer",
            value: "92233720368547758070".to_owned()
        }
    );
    let e = err(&with_bin("- I v -9223372036854775809"));
    assert_eq!(
        e.kind,
        ErrorKind::OutOfRange {
            what: "integer",
            value: "-9223372036854775809".to_owned()
        }
    );
    let e = err(&with_bin("- D v 1E5"));
    assert_eq!(expected(&e), "a decimal floating-point number");
}

#[test]
fn over_long_names_are_rejected() {
    let e = err(&with_bin("- I abcdefghijklmnop 1"));
    assert_eq!(
        e.kind,
        ErrorKind::TooLong {
            what: "bin name",
            max: 15
        }
    );
    assert_eq!(e.offset, bin_offset() + 4);
    // ... unless the restorer checks them itself.
    let ok = parse_chunked(
        with_bin("- I abcdefghijklmnop 1").as_bytes(),
        &[3],
        ParserOptions {
            allow_long_bin_names: true,
            ..Default::default()
        },
    );
    assert!(ok.is_ok());
    let e = err(&format!("{HEAD}+ n {}\n", "n".repeat(32)));
    assert_eq!(
        e.kind,
        ErrorKind::TooLong {
            what: "namespace",
            max: 31
        }
    );
    let e = err(&format!(
        "{HEAD}+ n test\n+ d AxYfNSyKuFRIlSyJbs2qEis8TnE=\n+ s {}\n",
        "s".repeat(64)
    ));
    assert_eq!(
        e.kind,
        ErrorKind::TooLong {
            what: "set name",
            max: 63
        }
    );
    let e = err(&format!(
        "{HEAD}* i test demo {} N 1 b S\n",
        "x".repeat(1000)
    ));
    assert_eq!(
        e.kind,
        ErrorKind::TooLong {
            what: "index name",
            max: 999
        }
    );
}

#[test]
fn nul_ends_a_name_even_escaped() {
    // Found by fuzzing: names are C strings, so they never contain NUL.
    let e = err(&format!(
        "{HEAD}+ n test\n+ d AxYfNSyKuFRIlSyJbs2qEis8TnE=\n+ s a\\b\\\0c\n"
    ));
    assert_eq!(expected(&e), "LF then \"+ g\" line");
    assert_eq!(e.offset, (HEAD.len() + 9 + 33 + 7) as u64);
}

#[test]
fn bad_bool_and_nil_are_rejected() {
    let e = err(&with_bin("- Z v X"));
    assert_eq!(expected(&e), "T or F");
    let e = err(&with_bin("- Z v TT"));
    assert_eq!(expected(&e), "LF after boolean");
    let e = err(&with_bin("- N v 1"));
    assert_eq!(expected(&e), "LF after nil bin name");
}

#[test]
fn payload_must_end_with_lf() {
    let e = err(&with_bin("- S v 2 abc"));
    assert_eq!(e.offset, bin_offset() + 10);
    assert_eq!(expected(&e), "LF after payload");
}

#[test]
fn versions() {
    let e = err("Version 3.2\n");
    assert_eq!(e.offset, 0);
    let e = err("Version 3.10\n");
    assert_eq!(expected(&e), "LF after version");
    let e = err("");
    assert!(matches!(e.kind, ErrorKind::UnexpectedEof { .. }));
    // 3.0 has no global lines.
    let e = err("Version 3.0\n* u L x.lua 0 \n");
    assert_eq!((e.line, e.offset), (2, 12));
    // 3.2 and `* e` behind the option.
    let v32 = "Version 3.2\n# namespace test\n* e test demo ix N 1 b N AAAA\n";
    let opts = ParserOptions {
        allow_v3_2: true,
        ..Default::default()
    };
    let ok = parse_chunked(v32.as_bytes(), &[1], opts).unwrap();
    assert!(
        matches!(&ok[2], asb_format::Entity::Global(asb_format::GlobalItem::Index(i)) if i.expression)
    );
    // `* e` in a 3.1 file is not accepted even with the option.
    let e = err_with(
        "Version 3.1\n* e test demo ix N 1 b N AAAA\n",
        ParserOptions {
            allow_v3_2: true,
            ..Default::default()
        },
    );
    assert_eq!(expected(&e), "global line type 'i' or 'u'");
}

#[test]
fn huge_declared_length_in_truncated_file_is_just_eof() {
    let input = with_bin("- S v 1000000000000 abc");
    let input = &input[..input.len() - 1];
    let e = err(input);
    assert_eq!(e.kind, ErrorKind::UnexpectedEof { expected: "string" });
    assert_eq!(e.offset, input.len() as u64);
    let e = err(&format!("{HEAD}* u L x.lua 4000000000 --"));
    assert_eq!(
        e.kind,
        ErrorKind::UnexpectedEof {
            expected: "UDF content"
        }
    );
    let e = err(&format!("{HEAD}* u L x.lua 4294967296 --"));
    assert!(matches!(
        e.kind,
        ErrorKind::OutOfRange {
            what: "UDF length",
            ..
        }
    ));
}

#[test]
fn errors_are_sticky() {
    let mut p = asb_format::Parser::new(ParserOptions::default());
    p.push(bytes::Bytes::from_static(b"Version 9.9\n"));
    let e = p.next_entity().unwrap_err();
    assert_eq!(p.next_entity().unwrap_err(), e);
    assert_eq!(p.finish().unwrap_err(), e);
}
