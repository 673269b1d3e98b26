//! From cosine similarity to a relevance score in [0, 1].
//!
//! all-MiniLM-L6-v2 gives relevant passages cosines that mostly sit between 0.3 and 0.7, so the
//! chapter's default threshold of 0.7 on raw cosine would discard most good answers. ragd reports
//! `similarity` as a *calibrated relevance*: a monotonic, piecewise-linear map of cosine through
//! anchor points measured on our evaluation questions (`make calibrate`), placed so that 0.7
//! separates relevant from irrelevant passages. The raw cosine stays available next to it.

use crate::{Error, Result};

/// A monotonic piecewise-linear map from cosine to relevance.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    points: Vec<(f32, f32)>,
}

impl Calibration {
    /// Anchor points measured on the evaluation questions with all-MiniLM-L6-v2 (see the README's
    /// "Similarity scores" section): cosine 0.20 → 0.3, 0.45 → 0.7, 0.70 → 0.95.
    pub fn minilm_default() -> Self {
        Self {
            points: vec![
                (0.0, 0.0),
                (0.20, 0.3),
                (0.45, 0.7),
                (0.70, 0.95),
                (1.0, 1.0),
            ],
        }
    }

    /// Anchors for BM25 scores of the embedded lexical index (English + Portuguese fields,
    /// chunks of 200 tokens), measured by `bench/calibrate_lexical.py` on the tune split of the
    /// pg-en set: the score at which lexical hits are as often relevant as dense hits at cosine
    /// 0.20 / 0.45 / 0.70 maps to the same relevance, 0.3 / 0.7 / 0.95 (30.0, 42.8 and 79.3
    /// measured; 18.8, 37.7 and 135 on the held-out split).
    pub fn bm25_default() -> Self {
        Self {
            points: vec![
                (0.0, 0.0),
                (30.0, 0.3),
                (43.0, 0.7),
                (80.0, 0.95),
                (200.0, 1.0),
            ],
        }
    }

    /// Raw cosine, clamped to [0, 1]: for users who prefer the chapter's semantics.
    pub fn identity() -> Self {
        Self {
            points: vec![(0.0, 0.0), (1.0, 1.0)],
        }
    }

    /// A calibration from `(cosine, relevance)` anchors; both coordinates must increase.
    pub fn from_points(points: Vec<(f32, f32)>) -> Result<Self> {
        let increasing = points
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        let in_range = points
            .iter()
            .all(|(c, r)| (-1.0..=1.0).contains(c) && (0.0..=1.0).contains(r));
        if points.len() < 2 || !increasing || !in_range {
            return Err(Error::invalid(
                "calibration needs at least two (cosine, relevance) points, increasing, cosine in [-1,1], relevance in [0,1]",
            ));
        }
        Ok(Self { points })
    }

    /// The relevance of a cosine similarity.
    pub fn relevance(&self, cosine: f32) -> f32 {
        let pts = &self.points;
        let (first, last) = (pts[0], pts[pts.len() - 1]);
        if cosine <= first.0 {
            return first.1;
        }
        if cosine >= last.0 {
            return last.1;
        }
        let i = pts.partition_point(|p| p.0 <= cosine);
        let ((c0, r0), (c1, r1)) = (pts[i - 1], pts[i]);
        r0 + (cosine - c0) / (c1 - c0) * (r1 - r0)
    }

    /// The smallest cosine whose relevance reaches `relevance` (for pushing thresholds down).
    pub fn cosine_for(&self, relevance: f32) -> f32 {
        let pts = &self.points;
        if relevance <= pts[0].1 {
            return -1.0;
        }
        for w in pts.windows(2) {
            let ((c0, r0), (c1, r1)) = (w[0], w[1]);
            if relevance <= r1 && r1 > r0 {
                return c0 + (relevance - r0) / (r1 - r0) * (c1 - c0);
            }
        }
        f32::INFINITY
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Self::minilm_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn anchors_map_exactly() {
        let c = Calibration::minilm_default();
        assert!((c.relevance(0.45) - 0.7).abs() < 1e-5);
        assert_eq!(c.relevance(-0.3), 0.0);
        assert_eq!(c.relevance(1.0), 1.0);
    }

    #[test]
    fn bad_points_are_rejected() {
        assert!(Calibration::from_points(vec![(0.5, 0.5)]).is_err());
        assert!(Calibration::from_points(vec![(0.5, 0.5), (0.4, 0.9)]).is_err());
        assert!(Calibration::from_points(vec![(0.0, 0.0), (1.0, 1.5)]).is_err());
    }

    proptest! {
        #[test]
        fn monotonic_bounded_and_invertible(a in -1.0f32..1.0, b in -1.0f32..1.0) {
            let c = Calibration::minilm_default();
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            prop_assert!(c.relevance(lo) <= c.relevance(hi));
            prop_assert!((0.0..=1.0).contains(&c.relevance(a)));
            let r = c.relevance(a);
            if r > 0.0 && r < 1.0 {
                prop_assert!((c.cosine_for(r) - a).abs() < 1e-3);
            }
        }
    }
}
