//! Appending numbers to message text without `fmt`: the B2BUA writes a few per message
//! (CSeq, Max-Forwards, Content-Length, ports, hex identifiers), and `write!` was a
//! measurable share of building one.

/// Appends `n` in decimal, as `write!(out, "{n}")` does (itoa: no `fmt` machinery).
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Appends the low `width * 4` bits of `n` as exactly `width` lowercase hex digits, as
/// `write!(out, "{n:0width$x}")` does for a value that fits.
pub(crate) fn push_hex(out: &mut String, n: u64, width: u32) {
    for k in (0..width).rev() {
        let nibble = (n >> (k * 4)) & 0xf;
        // ok: nibble < 16
        out.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_fmt_writes_them() {
        for n in [0u64, 5, 10, 65535, 4_294_967_295, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
        for (n, w) in [
            (0u64, 2u32),
            (0xab, 2),
            (0x1234, 6),
            (u64::MAX, 16),
            (7, 16),
        ] {
            let mut s = String::new();
            push_hex(&mut s, n, w);
            assert_eq!(s, format!("{n:0w$x}", w = w as usize));
        }
    }
}
