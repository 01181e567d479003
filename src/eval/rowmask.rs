//! A table row's structural index (CSV, Zeek TSV): one pass over the row marks its separators
//! and its quotes (CSV) or backslashes (Zeek) in 64-bit masks, so that a cell's end is a
//! `trailing_zeros`, and the cells after the last column a rule reads are counted with
//! `count_ones` instead of being walked byte by byte (issue 15, rows (d) and (e)).
//!
//! The per-cell search it replaces read eight bytes at a time and took about a third of the
//! Defender CSV row's time (`split_kept`, `closing_quote`, `count_csv_cells`: 26% of the
//! samples of row (e)).

/// Bit `k` of `delims[j]` (of `special[j]`) is set where byte `64 j + k` of the row is the
/// separator (the special byte); bits past the row's end are clear. Kept by the caller from row
/// to row (grown, never shrunk: no allocation per row).
#[derive(Debug, Default)]
pub(super) struct RowMasks {
    delims: Vec<u64>,
    special: Vec<u64>,
    len: usize,
}

impl RowMasks {
    pub(super) const fn new() -> RowMasks {
        RowMasks {
            delims: Vec::new(),
            special: Vec::new(),
            len: 0,
        }
    }

    /// Indexes `b`: its bytes equal to `delim` and to `special` (two different bytes).
    pub(super) fn index(&mut self, b: &[u8], delim: u8, special: u8) {
        let need = b.len().div_ceil(64);
        if self.delims.len() < need {
            self.delims.resize(need, 0);
            self.special.resize(need, 0);
        }
        self.len = b.len();
        let (ds, ss) = (&mut self.delims[..need], &mut self.special[..need]);
        let mut chunks = b.chunks_exact(64);
        let mut j = 0;
        for c in &mut chunks {
            if let (Ok(c), Some(d), Some(s)) = (c.try_into(), ds.get_mut(j), ss.get_mut(j)) {
                [*d, *s] = chunk_masks(c, [delim, special]);
            }
            j += 1;
        }
        let rest = chunks.remainder();
        if rest.is_empty() {
            return;
        }
        let (Some(d), Some(s)) = (ds.get_mut(j), ss.get_mut(j)) else {
            return;
        };
        match b.len().checked_sub(64).and_then(|at| b.get(at..)) {
            // The row's last 64 bytes, whose first ones the chunk before held too: their bits
            // are shifted out (no copy into a padded chunk).
            Some(last) => {
                if let Ok(c) = last.try_into() {
                    let [dm, sm] = chunk_masks(c, [delim, special]);
                    let shift = 64 - rest.len();
                    (*d, *s) = (dm >> shift, sm >> shift);
                }
            }
            // A row under 64 bytes.
            None => [*d, *s] = slice_masks(rest, [delim, special]),
        }
    }

    /// The first special byte at or after `i`.
    #[inline(always)]
    pub(super) fn next_special(&self, i: usize) -> Option<usize> {
        next(&self.special, self.len, i)
    }

    /// The separators at or after `i`, in order.
    #[inline(always)]
    pub(super) fn delims_at(&self, i: usize) -> Bits<'_> {
        let words = self.delims.get(..self.len.div_ceil(64)).unwrap_or_default();
        let j = i / 64;
        let m = match words.get(j) {
            Some(w) if i < self.len => w & (u64::MAX << (i % 64)),
            _ => 0,
        };
        Bits { words, j, m }
    }

    /// Whether some special byte is before `end`.
    #[inline(always)]
    pub(super) fn special_before(&self, end: usize) -> bool {
        self.next_special(0).is_some_and(|p| p < end)
    }
}

/// The set bits of a row's masks from some position on (see [`RowMasks::delims_at`]): each
/// next one a `trailing_zeros` of the word at hand, with no search from a position.
pub(super) struct Bits<'m> {
    words: &'m [u64],
    /// The word at hand, and its bits not yet given.
    j: usize,
    m: u64,
}

impl Iterator for Bits<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.m == 0 {
            self.j += 1;
            self.m = *self.words.get(self.j)?;
        }
        let at = 64 * self.j + self.m.trailing_zeros() as usize;
        self.m &= self.m - 1;
        Some(at)
    }

    /// The bits not yet given, counted a word at a time.
    fn count(self) -> usize {
        let rest = self.words.get(self.j + 1..).unwrap_or_default();
        self.m.count_ones() as usize + rest.iter().map(|w| w.count_ones() as usize).sum::<usize>()
    }
}

/// The first set bit at or after `i` of the masks of a row of `len` bytes.
///
/// The JSON scanner's `Line::next` is the same walk over a line's words. One function for both
/// (the row's words sliced first here, `ok_or` there) was slower on both paths: (e) 0.368 ->
/// 0.397 s, (f) 0.632 -> 0.660 s (medians of 14 and 12 interleaved rounds), so each keeps its own.
#[inline(always)]
fn next(masks: &[u64], len: usize, i: usize) -> Option<usize> {
    if i >= len {
        return None;
    }
    let mut j = i / 64;
    let first = masks.get(j)? >> (i % 64);
    if first != 0 {
        return Some(i + first.trailing_zeros() as usize);
    }
    // Words past the row's are another row's (the masks are reused): never read.
    let words = masks.get(..len.div_ceil(64))?;
    loop {
        j += 1;
        let m = *words.get(j)?;
        if m != 0 {
            return Some(64 * j + m.trailing_zeros() as usize);
        }
    }
}

/// The mask of each of `bytes` in a 64-byte chunk (bit `k`: byte `k` is that byte). On x86-64,
/// SSE2 (the architecture's baseline, always there): a compare and `pmovmskb` per 16 bytes and
/// byte, through `safe_arch` (this crate forbids `unsafe`). Elsewhere [`chunk_masks_portable`].
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(super) fn chunk_masks<const N: usize>(c: &[u8; 64], bytes: [u8; N]) -> [u64; N] {
    use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i};
    let splats = bytes.map(|b| safe_arch::set_splat_i8_m128i(b as i8));
    let mut out = [0u64; N];
    for (j, w) in c.chunks_exact(16).enumerate() {
        let Ok(w) = <&[u8; 16]>::try_from(w) else {
            break;
        };
        let v = load_unaligned_m128i(w);
        for (m, s) in out.iter_mut().zip(splats) {
            *m |= u64::from(move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, s)) as u16) << (16 * j);
        }
    }
    out
}

/// [`chunk_masks`] of a chunk of up to 64 bytes (the last of a text): the places past its end
/// mark nothing.
#[inline(always)]
pub(super) fn slice_masks<const N: usize>(c: &[u8], bytes: [u8; N]) -> [u64; N] {
    if let Ok(c) = <&[u8; 64]>::try_from(c) {
        return chunk_masks(c, bytes);
    }
    // Padded with a byte that is none of them.
    let pad = (0..=u8::MAX).find(|p| !bytes.contains(p)).unwrap_or(0);
    let mut full = [pad; 64];
    let n = c.len().min(64);
    if let (Some(dst), Some(src)) = (full.get_mut(..n), c.get(..n)) {
        dst.copy_from_slice(src);
    }
    chunk_masks(&full, bytes)
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
pub(super) fn chunk_masks<const N: usize>(c: &[u8; 64], bytes: [u8; N]) -> [u64; N] {
    chunk_masks_portable(c, bytes)
}

/// [`chunk_masks`] in plain Rust.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn chunk_masks_portable<const N: usize>(c: &[u8; 64], bytes: [u8; N]) -> [u64; N] {
    bytes.map(|b| {
        c.iter()
            .enumerate()
            .fold(0u64, |m, (k, &x)| m | u64::from(x == b) << k)
    })
}

/// Bit `k` set where an odd number of the bits up to `k` (included) of `x` are: with `x` a
/// chunk's quotes, the bytes from each opening quote up to its closing one (excluded).
#[inline(always)]
pub(super) fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::super::test_random;
    use super::*;

    /// The SSE2 masks are the portable ones, of two and of three bytes, over whole chunks and
    /// chunks of every shorter length ([`slice_masks`]).
    #[test]
    fn chunk_masks_are_the_bytes_bit_by_bit() {
        let mut next = test_random(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2_000 {
            let c: Vec<u8> = (0..64).map(|_| b",\"\\\ta\0"[next(6)]).collect();
            let Ok(c) = <[u8; 64]>::try_from(c) else {
                unreachable!()
            };
            for bytes in [[b',', b'"'], [b'\t', b'\\'], [0, 1]] {
                assert_eq!(chunk_masks(&c, bytes), chunk_masks_portable(&c, bytes));
            }
            let three = [b',', b'"', b'\\'];
            assert_eq!(chunk_masks(&c, three), chunk_masks_portable(&c, three));
            let n = next(65);
            let want = chunk_masks_portable(&c, three)
                .map(|m| m & u64::MAX.checked_shl(n as u32).map_or(u64::MAX, |k| !k));
            assert_eq!(slice_masks(&c[..n], three), want, "{n}");
        }
    }

    #[test]
    fn prefix_xor_is_the_parity_of_the_bits_up_to_each() {
        let mut next = test_random(0x2545_f491_4f6c_dd1d);
        for _ in 0..1_000 {
            let x = (next(1 << 32) as u64) << 32 | next(1 << 32) as u64;
            let want = (0..64).fold(0u64, |acc, k| {
                let ones = (x & (u64::MAX >> (63 - k))).count_ones();
                acc | (u64::from(ones % 2) << k)
            });
            assert_eq!(prefix_xor(x), want, "{x:x}");
        }
    }

    /// Every query of the index agrees with a search of the bytes, on rows of every length
    /// around the chunk edges, separators and quotes at their first and last bytes.
    #[test]
    fn the_index_finds_what_a_search_finds() {
        let mut m = RowMasks::new();
        let mut next = test_random(0x2545_f491_4f6c_dd1d);
        for len in (0..200).chain([255, 256, 257, 1000]) {
            for _ in 0..8 {
                let row: Vec<u8> = (0..len).map(|_| b",\"a\0\x01\x02"[next(6)]).collect();
                m.index(&row, b',', b'"');
                for i in 0..=len + 1 {
                    let find = |x: u8| row.iter().skip(i).position(|&c| c == x).map(|p| p + i);
                    assert_eq!(m.delims_at(i).next(), find(b','), "{row:?} {i}");
                    assert_eq!(m.next_special(i), find(b'"'), "{row:?} {i}");
                    let n = row.iter().skip(i).filter(|&&c| c == b',').count();
                    assert_eq!(m.delims_at(i).count(), n, "{row:?} {i}");
                    let any = row.iter().take(i).any(|&c| c == b'"');
                    assert_eq!(m.special_before(i), any, "{row:?} {i}");
                    let all: Vec<usize> = (i..len).filter(|&k| row[k] == b',').collect();
                    assert_eq!(m.delims_at(i).collect::<Vec<_>>(), all, "{row:?} {i}");
                }
            }
        }
    }
}
