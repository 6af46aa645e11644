//! The students page's chart of new enrollments per day, laid out here so the template only draws it.
//!
//! The drawing has one size whatever the data: a course's first day, a week and a whole term (90 days) all fit
//! the same 600 × 220 box, with a y axis of round numbers and a few dated ticks on the x axis. Days without
//! enrollments are drawn as gaps, not left out, so the x axis is time.

use minijinja::{Value, context};
use time::{Date, Duration, Month};

use crate::analytics::DayCount;

/// The drawing's size in SVG units (CSS pixels at full size; a narrower screen scales it down).
pub const WIDTH: i64 = 600;
pub const HEIGHT: i64 = 220;
/// The longest span drawn: a school term.
pub const MAX_DAYS: i64 = 90;
/// The shortest span drawn, so one day's bar stands beside the days before it, not across the whole chart.
const MIN_DAYS: i64 = 7;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 30.0;
/// The y axis goes at least this high, so a first enrollment is a short bar, not a wall.
const MIN_TOP: i64 = 5;

fn parse_day(s: &str) -> Option<Date> {
    let mut parts = s.splitn(3, '-').map(str::parse::<i32>);
    let (y, m, d) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    Date::from_calendar_date(
        y,
        Month::try_from(u8::try_from(m).ok()?).ok()?,
        u8::try_from(d).ok()?,
    )
    .ok()
}

/// "30 Nov", with the month named in `lang` ("30 nov" in Spanish).
pub fn short_day(lang: &str, d: Date) -> String {
    let month = super::i18n::months(lang)[usize::from(u8::from(d.month())) - 1];
    format!("{} {month}", d.day())
}

/// The round step for the y axis: 1, 2 or 5 times a power of ten, giving at most 5 steps up to `max`.
fn step_for(max: i64) -> i64 {
    let mut power = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * power;
            if max <= step * 5 {
                return step;
            }
        }
        power *= 10;
    }
}

/// The chart of `daily` (sorted, days without enrollments absent) up to `today`, its days named in `lang`: `None` when there is
/// nothing to draw.
pub fn enrollments(lang: &str, daily: &[DayCount], today: Date) -> Option<Value> {
    let days: Vec<(Date, i64)> = daily
        .iter()
        .filter_map(|d| Some((parse_day(&d.day)?, d.enrollments)))
        .collect();
    let first = days.first()?.0;
    let end = days.last().map_or(today, |d| d.0.max(today));
    let start = first
        .max(end - Duration::days(MAX_DAYS - 1))
        .min(end - Duration::days(MIN_DAYS - 1));
    let n = (end - start).whole_days() + 1;
    let count = |d: Date| {
        days.iter()
            .find(|(day, _)| *day == d)
            .map_or(0, |(_, c)| *c)
    };
    let series: Vec<(Date, i64)> = (0..n)
        .map(|i| start + Duration::days(i))
        .map(|d| (d, count(d)))
        .collect();
    let max = series.iter().map(|(_, c)| *c).max().unwrap_or(0);
    let step = step_for(max.max(MIN_TOP));
    let top = step * ((max.max(MIN_TOP) + step - 1) / step);
    let plot_w = WIDTH as f64 - LEFT - RIGHT;
    let plot_h = HEIGHT as f64 - TOP - BOTTOM;
    let base = TOP + plot_h;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.75).min(28.0);
    let every = (n + 6) / 7;
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let mut bars = Vec::new();
    let mut ticks_x = Vec::new();
    for (i, (day, c)) in series.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let h = plot_h * *c as f64 / top as f64;
        if *c > 0 {
            bars.push(context! {
                x => round(x + (slot - bar_w) / 2.0), y => round(base - h), w => round(bar_w), h => round(h),
                label => short_day(lang, *day), n => c,
            });
        }
        if i as i64 % every == 0 {
            ticks_x.push(context! { x => round(x + slot / 2.0), label => short_day(lang, *day) });
        }
    }
    let ticks_y: Vec<Value> = (0..=top / step)
        .map(|k| context! { y => round(base - plot_h * (k * step) as f64 / top as f64), v => k * step })
        .collect();
    let rows: Vec<Value> = series
        .iter()
        .filter(|(_, c)| *c > 0)
        .map(|(d, c)| context! { day => d.to_string(), label => short_day(lang, *d), n => c })
        .collect();
    Some(context! {
        width => WIDTH, height => HEIGHT, left => LEFT, right => WIDTH as f64 - RIGHT, base, top_y => TOP,
        bars, ticks_x, ticks_y, rows,
        days => n, from => short_day(lang, start), to => short_day(lang, end),
        total => series.iter().map(|(_, c)| c).sum::<i64>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str, n: i64) -> DayCount {
        DayCount {
            day: s.into(),
            enrollments: n,
        }
    }

    fn get(v: &Value, key: &str) -> Value {
        v.get_attr(key).unwrap()
    }

    #[test]
    fn a_first_day_is_one_short_bar_in_a_week() {
        let today = parse_day("2026-12-01").unwrap();
        let chart = enrollments("en", &[day("2026-12-01", 1)], today).unwrap();
        assert_eq!(get(&chart, "days").as_i64(), Some(7));
        let bars = get(&chart, "bars");
        assert_eq!(bars.len(), Some(1));
        let bar = bars.get_item_by_index(0).unwrap();
        // A fifth of the plot's height (the axis goes to 5), and no wider than 28 units.
        let h: f64 = get(&bar, "h").to_string().parse().unwrap();
        assert!(
            (h - (HEIGHT as f64 - TOP - BOTTOM) / 5.0).abs() < 0.2,
            "{h}"
        );
        let w: f64 = get(&bar, "w").to_string().parse().unwrap();
        assert!(w <= 28.0, "{w}");
        assert_eq!(get(&chart, "ticks_y").len(), Some(6), "0 to 5");
        assert_eq!(get(&chart, "from").to_string(), "25 Nov");
        assert_eq!(get(&chart, "to").to_string(), "1 Dec");
    }

    #[test]
    fn a_long_history_shows_the_last_term_with_round_steps() {
        let today = parse_day("2026-12-01").unwrap();
        let daily: Vec<DayCount> = (0..200)
            .map(|i| {
                let d = today - Duration::days(199 - i);
                day(&d.to_string(), (i % 9) + 1)
            })
            .collect();
        let chart = enrollments("en", &daily, today).unwrap();
        assert_eq!(get(&chart, "days").as_i64(), Some(MAX_DAYS));
        assert_eq!(get(&chart, "bars").len(), Some(90));
        assert_eq!(get(&chart, "rows").len(), Some(90));
        // The tallest bar (9) under a top of 10, ticks 0, 2, … 10; at most 7 dated ticks.
        let ticks: Vec<i64> = get(&chart, "ticks_y")
            .try_iter()
            .unwrap()
            .map(|t| get(&t, "v").as_i64().unwrap())
            .collect();
        assert_eq!(ticks, [0, 2, 4, 6, 8, 10]);
        assert!(get(&chart, "ticks_x").len().unwrap() <= 7);
        for bar in get(&chart, "bars").try_iter().unwrap() {
            let x: f64 = get(&bar, "x").to_string().parse().unwrap();
            assert!((LEFT..WIDTH as f64 - RIGHT).contains(&x), "{x}");
        }
    }

    #[test]
    fn nothing_to_draw_without_data_and_round_steps() {
        assert!(enrollments("en", &[], parse_day("2026-12-01").unwrap()).is_none());
        assert_eq!(step_for(5), 1);
        assert_eq!(step_for(9), 2);
        assert_eq!(step_for(23), 5);
        assert_eq!(step_for(480), 100);
    }

    #[test]
    fn days_are_named_in_the_page_language() {
        let d = parse_day("2026-12-01").unwrap();
        assert_eq!(short_day("en", d), "1 Dec");
        assert_eq!(short_day("es", d), "1 dic");
        assert_eq!(short_day("sw", d), "1 Des");
    }
}
