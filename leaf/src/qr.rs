//! QR codes of join links, as SVG (inline in the console) and PNG (to print or download).

use qrcode::QrCode;
use qrcode::render::svg;

/// Pixels per QR module in the PNG, and the quiet zone around it in modules (the standard's 4).
const PNG_SCALE: usize = 8;
const QUIET_ZONE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the link does not fit a QR code: {0}")]
    TooLong(String),
    #[error("cannot encode the PNG: {0}")]
    Png(String),
}

pub fn svg(text: &str) -> Result<String, QrError> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| QrError::TooLong(e.to_string()))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| QrError::TooLong(e.to_string()))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
        for y in my * PNG_SCALE..(my + 1) * PNG_SCALE {
            pixels[y * side + mx * PNG_SCALE..y * side + (mx + 1) * PNG_SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| QrError::Png(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| QrError::Png(e.to_string()))?;
    writer.finish().map_err(|e| QrError::Png(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_an_svg_and_a_png() {
        let url = "http://leaf.local:8080/display/0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11?token=abc";
        assert!(svg(url).unwrap().contains("<svg"));
        let png = png(url).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn text_too_long_for_a_qr_code_is_an_error() {
        assert!(matches!(svg(&"x".repeat(8000)), Err(QrError::TooLong(_))));
    }
}
