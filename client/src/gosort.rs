//! Go's `sort.Sort` (pattern-defeating quicksort, Go 1.19 and later), step for step.
//!
//! Helm sorts each chart's versions of a repository index with `sort.Sort`, which is not stable:
//! when an index lists one version twice (grafana's published index does, with different
//! digests), which copy comes first decides what `helm pull` downloads and verifies. Sorting the
//! same input with the same comparisons and swaps puts the copies in Helm's order, so Chartroom
//! picks the entry Helm picks. A stable sort would agree only for short lists (Go sorts up to 12
//! elements by insertion, which is stable).
//!
//! The functions mirror `sort/zsortinterface.go` and `sort/sort.go` of Go 1.24 and later (Helm
//! 4, and Helm 3 since it is built with Go 1.24): Go 1.24 changed the pseudo-random generator of
//! the pattern-breaking step (see [`break_patterns`]), so Helm builds made with an older Go can
//! order the copies of a repeated version differently in the lists where that step runs.
//! `less(v, i, j)` is Go's `data.Less(i, j)`.

/// Go's `sort.Sort(data)` on `v` with `data.Less(i, j) = less(&v[i], &v[j])`.
pub(crate) fn sort_like_go<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let mut data = Data { v, less };
    let limit = bit_len(n);
    pdqsort(&mut data, 0, n, limit);
}

struct Data<'a, T, F> {
    v: &'a mut [T],
    less: F,
}

impl<T, F: Fn(&T, &T) -> bool> Data<'_, T, F> {
    fn less(&self, i: usize, j: usize) -> bool {
        match (self.v.get(i), self.v.get(j)) {
            (Some(a), Some(b)) => (self.less)(a, b),
            _ => false,
        }
    }
    fn swap(&mut self, i: usize, j: usize) {
        if i < self.v.len() && j < self.v.len() {
            self.v.swap(i, j);
        }
    }
}

/// `bits.Len(uint(n))`: the number of bits needed to represent `n`.
fn bit_len(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

fn insertion_sort<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, a: usize, b: usize) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && data.less(j, j - 1) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sift_down<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, lo: usize, hi: usize, first: usize) {
    let mut root = lo;
    loop {
        let mut child = 2 * root + 1;
        if child >= hi {
            return;
        }
        if child + 1 < hi && data.less(first + child, first + child + 1) {
            child += 1;
        }
        if !data.less(first + root, first + child) {
            return;
        }
        data.swap(first + root, first + child);
        root = child;
    }
}

fn heap_sort<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, a: usize, b: usize) {
    let first = a;
    let lo = 0;
    let hi = b - a;
    // Go: for i := (hi - 1) / 2; i >= 0; i--
    for i in (0..=(hi - 1) / 2).rev() {
        sift_down(data, i, hi, first);
    }
    for i in (0..hi).rev() {
        data.swap(first, first + i);
        sift_down(data, lo, i, first);
    }
}

fn pdqsort<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, mut a: usize, mut b: usize, mut limit: usize) {
    const MAX_INSERTION: usize = 12;
    let mut was_balanced = true;
    let mut was_partitioned = true;
    loop {
        let length = b - a;
        if length <= MAX_INSERTION {
            insertion_sort(data, a, b);
            return;
        }
        if limit == 0 {
            heap_sort(data, a, b);
            return;
        }
        if !was_balanced {
            break_patterns(data, a, b);
            limit -= 1;
        }
        let (mut pivot, mut hint) = choose_pivot(data, a, b);
        if hint == Hint::Decreasing {
            reverse_range(data, a, b);
            pivot = (b - 1) - (pivot - a);
            hint = Hint::Increasing;
        }
        if was_balanced && was_partitioned && hint == Hint::Increasing && partial_insertion_sort(data, a, b) {
            return;
        }
        if a > 0 && !data.less(a - 1, pivot) {
            a = partition_equal(data, a, b, pivot);
            continue;
        }
        let (mid, already_partitioned) = partition(data, a, b, pivot);
        was_partitioned = already_partitioned;
        let (left_len, right_len) = (mid - a, b - mid);
        let balance_threshold = length / 8;
        if left_len < right_len {
            was_balanced = left_len >= balance_threshold;
            pdqsort(data, a, mid, limit);
            a = mid + 1;
        } else {
            was_balanced = right_len >= balance_threshold;
            pdqsort(data, mid + 1, b, limit);
            b = mid;
        }
    }
}

/// Go's `partition`; indexes are signed there (`j` may reach `a`, never below it).
fn partition<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, a: usize, b: usize, pivot: usize) -> (usize, bool) {
    data.swap(a, pivot);
    let (mut i, mut j) = (a + 1, b - 1);
    while i <= j && data.less(i, a) {
        i += 1;
    }
    while i <= j && !data.less(j, a) {
        j -= 1;
    }
    if i > j {
        data.swap(j, a);
        return (j, true);
    }
    data.swap(i, j);
    i += 1;
    j -= 1;
    loop {
        while i <= j && data.less(i, a) {
            i += 1;
        }
        while i <= j && !data.less(j, a) {
            j -= 1;
        }
        if i > j {
            break;
        }
        data.swap(i, j);
        i += 1;
        j -= 1;
    }
    data.swap(j, a);
    (j, false)
}

fn partition_equal<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, a: usize, b: usize, pivot: usize) -> usize {
    data.swap(a, pivot);
    let (mut i, mut j) = (a + 1, b - 1);
    loop {
        while i <= j && !data.less(a, i) {
            i += 1;
        }
        while i <= j && data.less(a, j) {
            j -= 1;
        }
        if i > j {
            break;
        }
        data.swap(i, j);
        i += 1;
        j -= 1;
    }
    i
}

fn partial_insertion_sort<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, a: usize, b: usize) -> bool {
    const MAX_STEPS: usize = 5;
    const SHORTEST_SHIFTING: usize = 50;
    let mut i = a + 1;
    for _ in 0..MAX_STEPS {
        while i < b && !data.less(i, i - 1) {
            i += 1;
        }
        if i == b {
            return true;
        }
        if b - a < SHORTEST_SHIFTING {
            return false;
        }
        data.swap(i, i - 1);
        // Shift the smaller one to the left (Go's loop runs down to index 1, not to `a`).
        if i - a >= 2 {
            let mut j = i - 1;
            while j >= 1 {
                if !data.less(j, j - 1) {
                    break;
                }
                data.swap(j, j - 1);
                j -= 1;
            }
        }
        // Shift the greater one to the right.
        if b - i >= 2 {
            let mut j = i + 1;
            while j < b {
                if !data.less(j, j - 1) {
                    break;
                }
                data.swap(j, j - 1);
                j += 1;
            }
        }
    }
    false
}

fn break_patterns<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, a: usize, b: usize) {
    let length = b - a;
    if length >= 8 {
        let mut random = length as u64;
        let modulus = 1usize << bit_len(length);
        let start = a + (length / 4) * 2 - 1;
        for idx in start..=start + 2 {
            // `xorshift.Next` of Go 1.24 and later (13, 7, 17). Go 1.19 to 1.23 shifted by 13, 17,
            // 5 (golang/go#70144), so Helm built with those (Helm 3.17 and older) may order the
            // copies of a repeated version differently when this path is taken.
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            let mut other = (random as usize) & (modulus - 1);
            if other >= length {
                other -= length;
            }
            data.swap(idx, a + other);
        }
    }
}

fn choose_pivot<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, a: usize, b: usize) -> (usize, Hint) {
    const SHORTEST_NINTHER: usize = 50;
    const MAX_SWAPS: usize = 4 * 3;
    let l = b - a;
    let mut swaps = 0;
    let mut i = a + l / 4;
    let mut j = a + l / 4 * 2;
    let mut k = a + l / 4 * 3;
    if l >= 8 {
        if l >= SHORTEST_NINTHER {
            i = median_adjacent(data, i, &mut swaps);
            j = median_adjacent(data, j, &mut swaps);
            k = median_adjacent(data, k, &mut swaps);
        }
        j = median(data, i, j, k, &mut swaps);
    }
    match swaps {
        0 => (j, Hint::Increasing),
        MAX_SWAPS => (j, Hint::Decreasing),
        _ => (j, Hint::Unknown),
    }
}

fn order2<T, F: Fn(&T, &T) -> bool>(data: &Data<'_, T, F>, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
    if data.less(b, a) {
        *swaps += 1;
        return (b, a);
    }
    (a, b)
}

fn median<T, F: Fn(&T, &T) -> bool>(data: &Data<'_, T, F>, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
    let (a, b) = order2(data, a, b, swaps);
    let (b, _c) = order2(data, b, c, swaps);
    let (_a, b) = order2(data, a, b, swaps);
    b
}

fn median_adjacent<T, F: Fn(&T, &T) -> bool>(data: &Data<'_, T, F>, a: usize, swaps: &mut usize) -> usize {
    median(data, a - 1, a, a + 1, swaps)
}

fn reverse_range<T, F: Fn(&T, &T) -> bool>(data: &mut Data<'_, T, F>, a: usize, b: usize) {
    let (mut i, mut j) = (a, b - 1);
    while i < j {
        data.swap(i, j);
        i += 1;
        j -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random test input (xorshift), deterministic.
    fn input(n: usize, distinct: u64, mut seed: u64) -> Vec<(u64, usize)> {
        (0..n)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % distinct, i)
            })
            .collect()
    }

    #[test]
    fn sorts_every_shape() {
        for n in [0, 1, 2, 11, 12, 13, 49, 50, 51, 100, 282, 1000] {
            for distinct in [1, 2, 5, 1000] {
                for seed in 1..6 {
                    let mut v = input(n, distinct, seed);
                    sort_like_go(&mut v, |a, b| a.0 < b.0);
                    assert!(v.windows(2).all(|w| w[0].0 <= w[1].0), "n={n} distinct={distinct} seed={seed}");
                    let mut ids: Vec<usize> = v.iter().map(|x| x.1).collect();
                    ids.sort_unstable();
                    assert_eq!(ids, (0..n).collect::<Vec<_>>(), "a permutation");
                }
            }
            // Sorted, reversed and nearly sorted inputs take pdqsort's special paths.
            let mut asc: Vec<usize> = (0..n).collect();
            sort_like_go(&mut asc, |a, b| a < b);
            assert!(asc.windows(2).all(|w| w[0] <= w[1]));
            let mut desc: Vec<usize> = (0..n).rev().collect();
            sort_like_go(&mut desc, |a, b| a < b);
            assert!(desc.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    /// Observed with `helm pull --version 1.22.0` on an index listing these versions in this order:
    /// Helm 4.1 (Go 1.25) takes the first copy of 1.22.0, Helm 3.17 (Go 1.23) the second. Sorting
    /// it takes the pattern-breaking path, so it fails with any other generator than Go 1.24's.
    #[test]
    fn helm_picks_this_copy() {
        let minors = [8, 22, 7, 22, 21, 3, 4, 9, 0, 19, 23, 18, 16, 1, 11, 17, 14, 12, 2, 10, 20, 13, 5, 15, 6, 24];
        let mut v: Vec<(u32, usize)> = minors.iter().copied().zip(0..).collect();
        // Helm: sort.Sort(sort.Reverse(versions)).
        sort_like_go(&mut v, |a, b| b.0 < a.0);
        let copies: Vec<usize> = v.iter().filter(|x| x.0 == 22).map(|x| x.1).collect();
        assert_eq!(copies, [1, 3]);
        assert!(v.windows(2).all(|w| w[0].0 >= w[1].0));
    }

    #[test]
    fn short_lists_keep_the_order_of_equal_elements() {
        // Up to 12 elements Go sorts by insertion, which is stable.
        let mut v = vec![(1, 'a'), (0, 'b'), (1, 'c'), (0, 'd'), (1, 'e')];
        sort_like_go(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, [(0, 'b'), (0, 'd'), (1, 'a'), (1, 'c'), (1, 'e')]);
    }
}
