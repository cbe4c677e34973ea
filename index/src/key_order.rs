//! The order of chart names in `entries`: go-yaml v2's `keyList.Less` for string keys, so the
//! index comes out in the order `helm repo index` writes it.
//!
//! The comparison runs on every map lookup of a chart name, so it works on the two strings in
//! place (no per-call `Vec<char>`; issue 16). It relies on two facts of UTF-8: the common prefix
//! of two strings ends at the same byte offset in both, and an ASCII digit byte never occurs
//! inside a multi-byte character, so digit runs can be scanned byte-wise.

use std::cmp::Ordering;

/// go-yaml v2 `keyList.Less` for string keys (a non-letter before a letter, runs of digits by
/// their numeric value), as a total order up to equal keys.
pub(crate) fn go_yaml_key_order(a: &str, b: &str) -> Ordering {
    let mut ac = a.char_indices();
    let mut bc = b.chars();
    while let (Some((at, x)), Some(y)) = (ac.next(), bc.next()) {
        if x == y {
            continue;
        }
        // Inside a digit run (the shared character before is a digit) where one side goes on
        // with digits, the numbers decide even if the other side has a letter: go-yaml applies
        // its letter rule there, which is not an order ("a12" < "a1x" by the letter, "a1x" <
        // "a2" < "a12" by the numbers), and a map keyed by names needs one.
        let in_run = at > 0 && a.as_bytes()[at - 1].is_ascii_digit();
        if !(in_run && (x.is_ascii_digit() || y.is_ascii_digit())) {
            let (xl, yl) = (x.is_alphabetic(), y.is_alphabetic());
            if xl && yl {
                return x.cmp(&y);
            }
            if xl || yl {
                return if yl { Ordering::Less } else { Ordering::Greater };
            }
        }
        // `at` is also the offset of `y` in `b`: everything before it is equal.
        let (mut an, mut bn) = (0u128, 0u128);
        if x == '0' || y == '0' {
            // A zero inside a number (a non-zero digit before it in the run) is not a leading
            // zero: both sides then start above 0, as go-yaml does.
            let run_before = a.as_bytes()[..at].iter().rev().take_while(|c| c.is_ascii_digit());
            if run_before.into_iter().any(|&c| c != b'0') {
                an = 1;
                bn = 1;
            }
        }
        let (an, alen) = digit_run(&a.as_bytes()[at..], an);
        let (bn, blen) = digit_run(&b.as_bytes()[at..], bn);
        if an != bn {
            return an.cmp(&bn);
        }
        if alen != blen {
            return alen.cmp(&blen);
        }
        return x.cmp(&y);
    }
    // One is a prefix of the other (in characters, hence also in bytes).
    a.len().cmp(&b.len())
}

/// The value (saturating, starting from `start`) and length of the ASCII digit run at the start
/// of `bytes`.
fn digit_run(bytes: &[u8], start: u128) -> (u128, usize) {
    let mut n = start;
    let mut len = 0;
    for &c in bytes.iter().take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(u128::from(c - b'0'));
        len += 1;
    }
    (n, len)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The implementation before issue 16 (two `Vec<char>` per call, with the digit-run rule
    /// since), kept as the reference the allocation-free one must agree with.
    fn reference(a: &str, b: &str) -> Ordering {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        let mut i = 0;
        while i < ar.len() && i < br.len() {
            if ar[i] == br[i] {
                i += 1;
                continue;
            }
            let in_run = i > 0 && ar[i - 1].is_ascii_digit();
            if !(in_run && (ar[i].is_ascii_digit() || br[i].is_ascii_digit())) {
                let al = ar[i].is_alphabetic();
                let bl = br[i].is_alphabetic();
                if al && bl {
                    return ar[i].cmp(&br[i]);
                }
                if al || bl {
                    return if bl { Ordering::Less } else { Ordering::Greater };
                }
            }
            let (mut an, mut bn) = (0u128, 0u128);
            if ar[i] == '0' || br[i] == '0' {
                let mut j = i;
                while j > 0 && ar[j - 1].is_ascii_digit() {
                    j -= 1;
                    if ar[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let mut ai = i;
            while ai < ar.len() && ar[ai].is_ascii_digit() {
                an = an.saturating_mul(10).saturating_add(u128::from(ar[ai] as u8 - b'0'));
                ai += 1;
            }
            let mut bi = i;
            while bi < br.len() && br[bi].is_ascii_digit() {
                bn = bn.saturating_mul(10).saturating_add(u128::from(br[bi] as u8 - b'0'));
                bi += 1;
            }
            if an != bn {
                return an.cmp(&bn);
            }
            if ai != bi {
                return ai.cmp(&bi);
            }
            return ar[i].cmp(&br[i]);
        }
        ar.len().cmp(&br.len())
    }

    /// Names from a small alphabet so that shared prefixes, digit runs (with zeros, and long
    /// enough to saturate), letters against non-letters and multi-byte characters all occur.
    fn name() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("0"),
            Just("00"),
            Just("1"),
            Just("9"),
            Just("10"),
            Just("123456789012345678901234567890123456789012"),
            Just("a"),
            Just("b"),
            Just("Z"),
            Just("-"),
            Just("_"),
            Just("."),
            Just("é"),
            Just("ß"),
            Just("٣"),
            Just("日"),
            Just("😀"),
        ];
        proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn same_order_as_the_vec_of_chars_implementation(a in name(), b in name()) {
            prop_assert_eq!(go_yaml_key_order(&a, &b), reference(&a, &b));
            prop_assert_eq!(go_yaml_key_order(&b, &a), reference(&b, &a));
            prop_assert_eq!(go_yaml_key_order(&a, &a), Ordering::Equal);
        }

        /// A total order (what `BTreeMap` needs): antisymmetric and transitive.
        #[test]
        fn a_total_order(a in name(), b in name(), c in name()) {
            prop_assert_eq!(go_yaml_key_order(&a, &b), go_yaml_key_order(&b, &a).reverse());
            if go_yaml_key_order(&a, &b).is_le() && go_yaml_key_order(&b, &c).is_le() {
                prop_assert!(go_yaml_key_order(&a, &c).is_le(), "{a:?} <= {b:?} <= {c:?} but not {a:?} <= {c:?}");
            }
        }

        #[test]
        fn same_order_on_arbitrary_strings(a in any::<String>(), b in any::<String>(), shared in "[a-z0-9]{0,6}") {
            let (a, b) = (format!("{shared}{a}"), format!("{shared}{b}"));
            prop_assert_eq!(go_yaml_key_order(&a, &b), reference(&a, &b));
        }
    }

    #[test]
    fn examples() {
        let mut names = vec!["chart10", "chart2", "Zeta", "alpha", "a-b", "a1", "a01", "a001", "a0", "a10b", "a10"];
        names.sort_by(|a, b| go_yaml_key_order(a, b).then_with(|| a.cmp(b)));
        let mut expected = names.clone();
        expected.sort_by(|a, b| reference(a, b).then_with(|| a.cmp(b)));
        assert_eq!(names, expected);
        assert_eq!(&names[..2], ["Zeta", "a-b"]);
    }

    /// go-yaml's `Less` puts "a12" before "a1x" (a digit before a letter), "a1x" before "a2" and
    /// "a2" before "a12" (by the numbers): no order. Here a number that ends comes first.
    #[test]
    fn a_number_that_ends_comes_before_one_that_goes_on() {
        let mut names = vec!["a12", "a2", "a1x", "a1", "a10x", "a1-", "a00", "a0x"];
        names.sort_by(|a, b| go_yaml_key_order(a, b));
        assert_eq!(names, ["a0x", "a00", "a1", "a1-", "a1x", "a2", "a10x", "a12"]);
    }
}
