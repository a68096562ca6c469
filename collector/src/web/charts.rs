//! SVG charts drawn on the server: a sparkline for a table cell and a line chart with
//! axes and a legend. Pure functions of the numbers; the output contains only numbers
//! and the escaped labels given, so templates insert it unescaped.

use std::fmt::Write;

/// One named series of a line chart, drawn in `class` (a CSS class of `app.css`).
#[derive(Debug, Clone)]
pub struct Line<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<f64>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn points(values: &[f64], w: f64, h: f64, top: f64, max: f64) -> String {
    let n = values.len();
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        let x = if n > 1 {
            w * i as f64 / (n - 1) as f64
        } else {
            w / 2.0
        };
        let y = top + h
            - if max > 0.0 {
                h * v.clamp(0.0, max) / max
            } else {
                0.0
            };
        let _ = write!(out, "{}{x:.1},{y:.1}", if i == 0 { "" } else { " " });
    }
    out
}

/// A 100×20 sparkline of `values` (e.g. error rate per step) with `label` as its text
/// alternative; a flat line when every value is 0.
pub fn sparkline(values: &[f64], label: &str) -> String {
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let pts = points(values, 100.0, 18.0, 1.0, max);
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 100 20\" width=\"100\" height=\"20\" role=\"img\" \
         aria-label=\"{}\"><polyline points=\"{pts}\"/></svg>",
        esc(label)
    )
}

/// A line chart of several series over the same steps, 600×160, y axis from 0 to the
/// largest value, `x_labels` (first, last) under the axis.
pub fn line_chart(title: &str, lines: &[Line<'_>], x_labels: (&str, &str)) -> String {
    let (w, h, left, top) = (540.0, 120.0, 50.0, 10.0);
    let max = lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .fold(0.0_f64, f64::max);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 600 170\" role=\"img\" aria-label=\"{}\">\
         <title>{}</title>",
        esc(title),
        esc(title)
    );
    let _ = write!(
        svg,
        "<g class=\"axis\"><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\"/>\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <text x=\"{tx}\" y=\"{ty0}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{tx}\" y=\"{b}\" text-anchor=\"end\">0</text>\
         <text x=\"{left}\" y=\"{lx}\">{x0}</text>\
         <text x=\"{r}\" y=\"{lx}\" text-anchor=\"end\">{x1}</text></g>",
        b = top + h,
        r = left + w,
        tx = left - 4.0,
        ty0 = top + 8.0,
        max = fmt_num(max),
        lx = top + h + 14.0,
        x0 = esc(x_labels.0),
        x1 = esc(x_labels.1),
    );
    for l in lines {
        let pts = points(&l.values, w, h, top, max);
        let _ = write!(
            svg,
            "<polyline class=\"{}\" transform=\"translate({left},0)\" points=\"{pts}\"/>",
            esc(l.class)
        );
    }
    let mut x = left;
    for l in lines {
        let _ = write!(
            svg,
            "<g class=\"legend\"><rect class=\"{c}\" x=\"{x}\" y=\"158\" width=\"10\" height=\"10\"/>\
             <text x=\"{tx}\" y=\"167\">{n}</text></g>",
            c = esc(l.class),
            tx = x + 14.0,
            n = esc(l.name)
        );
        x += 20.0 + 8.0 * l.name.len() as f64;
    }
    svg.push_str("</svg>");
    svg
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_largest_value() {
        let s = sparkline(&[0.0, 0.5, 1.0], "error rate");
        assert!(s.contains("points=\"0.0,19.0 50.0,10.0 100.0,1.0\""), "{s}");
        let flat = sparkline(&[0.0, 0.0], "none");
        assert!(flat.contains("points=\"0.0,19.0 100.0,19.0\""), "{flat}");
        assert!(sparkline(&[], "x").contains("points=\"\""));
    }

    #[test]
    fn labels_are_escaped() {
        let s = sparkline(&[1.0], "<script>\"");
        assert!(s.contains("aria-label=\"&lt;script&gt;&quot;\""), "{s}");
        let c = line_chart(
            "a<b",
            &[Line {
                name: "x&y",
                class: "s-error",
                values: vec![1.0, 3.0],
            }],
            ("<t0>", "t1"),
        );
        assert!(
            c.contains("<title>a&lt;b</title>") && c.contains("x&amp;y"),
            "{c}"
        );
        assert!(!c.contains("<t0>"));
    }

    #[test]
    fn chart_has_axis_max_and_one_polyline_per_series() {
        let c = line_chart(
            "lines",
            &[
                Line {
                    name: "lines",
                    class: "s-lines",
                    values: vec![10.0, 250.0],
                },
                Line {
                    name: "error",
                    class: "s-error",
                    values: vec![0.0, 4.0],
                },
            ],
            ("10:00", "11:00"),
        );
        assert_eq!(c.matches("<polyline").count(), 2);
        assert!(c.contains(">250</text>"), "{c}");
    }
}
