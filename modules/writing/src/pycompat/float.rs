//! Python float semantics: floor division and `repr`.

/// Python's `x // y` for floats (CPython's `float_floor_div`): computed from `fmod`, which can
/// differ from `(x / y).floor()` in the last bit.
pub fn floor_div(x: f64, y: f64) -> f64 {
    let rem = x % y;
    let mut div = (x - rem) / y;
    if rem != 0.0 && ((y < 0.0) != (rem < 0.0)) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0_f64.copysign(x / y);
    }
    let floor = div.floor();
    if div - floor > 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// Python's `repr(x)` for a float: the shortest round-tripping digits, in fixed notation when
/// the decimal exponent is in `-4..16` (with a trailing `.0` for integral values), otherwise in
/// scientific notation with a signed, at least two-digit exponent (`1e+16`, `1.5e-05`).
pub fn repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // `{:e}` gives the shortest round-tripping digits: "-1.2345e3".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let fixed = format!("{x}");
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_division_matches_python() {
        assert_eq!(floor_div(1795504072.7149706, 600.0), 2992506.0);
        assert_eq!(floor_div(7.0, 2.0), 3.0);
        assert_eq!(floor_div(-7.0, 2.0), -4.0);
        assert_eq!(floor_div(0.5, 600.0), 0.0);
        assert_eq!(floor_div(600.0, 600.0), 1.0);
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(repr(1795504717006.578), "1795504717006.578");
        assert_eq!(repr(1795504717006.0), "1795504717006.0");
        assert_eq!(repr(0.1), "0.1");
        assert_eq!(repr(1e16), "1e+16");
        assert_eq!(repr(1.5e-5), "1.5e-05");
        assert_eq!(repr(0.0001), "0.0001");
        assert_eq!(repr(-2.5), "-2.5");
        assert_eq!(repr(123456789012345680.0), "1.2345678901234568e+17");
    }
}
