//! Memory is bounded by the largest value actually present, never by a
//! declared length.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use asb_format::{Entity, ErrorKind, Parser, ParserOptions, Value};
use bytes::Bytes;

/// Counts the live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const HEAD: &[u8] =
    b"Version 3.1\n+ n test\n+ d AxYfNSyKuFRIlSyJbs2qEis8TnE=\n+ g 3\n+ t 0\n+ b 1\n";

/// Runs `f` and returns the peak heap growth during it.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - base
}

// One test function, so no other test allocates concurrently.
#[test]
fn memory_is_bounded_by_present_data() {
    // A declared length of 10^12 in a truncated file: EOF, no big allocation.
    let peak = peak_during(|| {
        let mut p = Parser::new(ParserOptions::default());
        p.push(Bytes::from_static(HEAD));
        p.push(Bytes::from_static(b"- S v 1000000000000 "));
        for _ in 0..100 {
            p.push(Bytes::from_static(&[b'x'; 1000]));
            while let Some(e) = p.next_entity().unwrap() {
                assert!(matches!(e, Entity::Header(_)));
            }
        }
        let e = p.finish().unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnexpectedEof { expected: "string" });
    });
    assert!(peak < 1 << 20, "peak {peak}");

    // A 4 MiB value in 64 KiB chunks: held about twice (chunks + one copy).
    let value = vec![b'v'; 4 << 20];
    let mut data = HEAD.to_vec();
    data.extend_from_slice(format!("- S v {} ", value.len()).as_bytes());
    data.extend_from_slice(&value);
    data.push(b'\n');
    let chunks: Vec<Bytes> = data.chunks(64 << 10).map(Bytes::copy_from_slice).collect();
    drop(data);
    let peak = peak_during(move || {
        let mut p = Parser::new(ParserOptions::default());
        let mut got = None;
        for c in chunks {
            p.push(c);
            while let Some(e) = p.next_entity().unwrap() {
                if let Entity::Record(r) = e {
                    got = Some(r);
                }
            }
        }
        p.finish().unwrap();
        let r = got.expect("record");
        assert!(matches!(r.bin(0).map(|b| b.value), Some(Value::String(s)) if s.len() == 4 << 20));
    });
    assert!(peak < 10 << 20, "peak {peak}");
}
