//! Measurements, their summaries over runs, and percentiles.

/// Which direction is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput: more is better; the ratio is ours / theirs.
    Higher,
    /// Latency, memory, time: less is better; the ratio is theirs / ours.
    Lower,
    /// Informational only (no ratio), e.g. the queue spread.
    Neither,
}

/// One number a scenario run produced.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Short name, e.g. `msgs/s`, `p99 us`.
    pub name: &'static str,
    /// The value.
    pub value: f64,
    /// Which way is better.
    pub better: Better,
}

impl Metric {
    /// A metric where more is better.
    pub fn higher(name: &'static str, value: f64) -> Metric {
        Metric {
            name,
            value,
            better: Better::Higher,
        }
    }

    /// A metric where less is better.
    pub fn lower(name: &'static str, value: f64) -> Metric {
        Metric {
            name,
            value,
            better: Better::Lower,
        }
    }

    /// An informational metric.
    pub fn info(name: &'static str, value: f64) -> Metric {
        Metric {
            name,
            value,
            better: Better::Neither,
        }
    }
}

/// Median, minimum and maximum of one metric over several runs.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values` (must not be empty).
    pub fn of(values: &[f64]) -> Summary {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Summary {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// The `q`-quantile (0..=1) of sorted `v`, nearest rank.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The ratio of `ours` to `theirs` oriented so that > 1 means ours is better.
pub fn ratio(better: Better, ours: f64, theirs: f64) -> Option<f64> {
    match better {
        Better::Higher => Some(ours / theirs),
        Better::Lower => Some(theirs / ours),
        Better::Neither => None,
    }
}

/// Formats a number compactly: 1234567 → `1.23M`, 0.00123 → `0.00123`.
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_percentiles() {
        let s = Summary::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Summary::of(&[1.0, 2.0, 3.0, 4.0]).median, 2.5);
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 500.0);
        assert_eq!(percentile(&v, 0.999), 999.0);
        assert_eq!(ratio(Better::Lower, 2.0, 4.0), Some(2.0));
        assert_eq!(human(1_234_567.0), "1.23M");
    }
}
