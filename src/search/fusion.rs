//! Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): how the word ranking and the meaning ranking
//! become one.
//!
//! BM25 scores and cosines are on scales that cannot be added, so fusion looks only at ranks: an item at rank
//! `r` (from 1) of a ranking gets `weight / (k + r)` from it, and its fused score is the sum over the rankings
//! that hold it. An item found by both rankings therefore tends to beat one found first by only one; `k`
//! decides how much the top of a ranking outweighs its tail (the larger `k`, the flatter).

/// One ranking to fuse: its ids, best first, and how much its votes count.
#[derive(Debug, Clone, Copy)]
pub struct Ranking<'a> {
    /// Best first; only the order matters.
    pub ids: &'a [i64],
    /// Multiplies every vote of this ranking (0 ignores it).
    pub weight: f64,
}

/// Fuses `rankings` with constant `k`: `(id, score)`, highest score first, equal scores by ascending id (so
/// the order does not depend on hashing).
pub fn fuse(rankings: &[Ranking<'_>], k: f64) -> Vec<(i64, f64)> {
    let mut scores: std::collections::HashMap<i64, f64> = std::collections::HashMap::new();
    for ranking in rankings {
        for (rank, id) in ranking.ids.iter().enumerate() {
            *scores.entry(*id).or_default() += ranking.weight / (k + rank as f64 + 1.0);
        }
    }
    let mut fused: Vec<(i64, f64)> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(fused: &[(i64, f64)]) -> Vec<i64> {
        fused.iter().map(|(id, _)| *id).collect()
    }

    fn even<'a>(ids: &'a [i64]) -> Ranking<'a> {
        Ranking { ids, weight: 1.0 }
    }

    #[test]
    fn an_item_high_in_both_rankings_beats_one_first_in_only_one() {
        let fused = fuse(&[even(&[1, 2, 3]), even(&[2, 4, 5])], 60.0);
        assert_eq!(ids(&fused), vec![2, 1, 4, 3, 5]);
        let expected = 1.0 / 62.0 + 1.0 / 61.0;
        assert!((fused[0].1 - expected).abs() < 1e-12, "{fused:?}");
        assert!((fused[1].1 - 1.0 / 61.0).abs() < 1e-12, "{fused:?}");
    }

    #[test]
    fn equal_scores_are_ordered_by_id() {
        let fused = fuse(&[even(&[9, 4]), even(&[5, 7])], 60.0);
        assert_eq!(ids(&fused), vec![5, 9, 4, 7]);
        assert_eq!(fused[0].1, fused[1].1);
    }

    #[test]
    fn no_rankings_or_empty_ones_fuse_to_nothing() {
        assert!(fuse(&[], 60.0).is_empty());
        assert!(fuse(&[even(&[]), even(&[])], 60.0).is_empty());
        assert_eq!(ids(&fuse(&[even(&[]), even(&[3, 1])], 60.0)), vec![3, 1]);
    }

    #[test]
    fn a_small_k_lets_one_first_place_beat_two_lower_places() {
        // 1 is first in one ranking only; 2 is second in one and third in the other.
        let rankings = [even(&[1, 2]), even(&[3, 4, 2])];
        let place = |k: f64, id: i64| ids(&fuse(&rankings, k)).iter().position(|&x| x == id);
        assert!(place(60.0, 2) < place(60.0, 1));
        assert!(place(0.0, 1) < place(0.0, 2));
    }

    #[test]
    fn weights_scale_each_rankings_votes() {
        let (text, vector) = ([2, 1], [1, 2]);
        let weighted = |wt: f64, wv: f64| {
            fuse(
                &[
                    Ranking {
                        ids: &text,
                        weight: wt,
                    },
                    Ranking {
                        ids: &vector,
                        weight: wv,
                    },
                ],
                60.0,
            )
        };
        // Even weights tie 1 and 2; the heavier ranking's first breaks it.
        assert_eq!(ids(&weighted(1.0, 0.5)), vec![2, 1]);
        assert_eq!(ids(&weighted(0.5, 1.0)), vec![1, 2]);
        let ignored = weighted(0.0, 1.0);
        assert_eq!(ignored, vec![(1, 1.0 / 61.0), (2, 1.0 / 62.0)]);
    }
}
