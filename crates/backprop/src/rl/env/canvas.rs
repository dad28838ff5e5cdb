//! A small RGB raster for drawing environment frames: filled polygons and
//! circles, in pixel coordinates (x right, y down). No anti-aliasing, so a
//! frame has only the few colours drawn on it (an animated GIF keeps them exactly).

/// An RGB image, row-major, 3 bytes per pixel.
///
/// ```
/// use backprop::rl::Canvas;
/// let mut c = Canvas::new(4, 3, [255, 255, 255]);
/// c.fill_polygon(&[(0.0, 0.0), (2.0, 0.0), (2.0, 3.0), (0.0, 3.0)], [0, 0, 0]);
/// assert_eq!(c.pixel(1, 1), [0, 0, 0]);
/// assert_eq!(c.pixel(3, 1), [255, 255, 255]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A `width` x `height` canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: [u8; 3]) -> Canvas {
        let pixels = background.iter().copied().cycle().take(width * height * 3).collect();
        Canvas { width, height, pixels }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The RGB bytes, row by row (`width * height * 3`).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The colour at column `x`, row `y`.
    ///
    /// # Panics
    /// When the pixel is outside the canvas.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        assert!(x < self.width && y < self.height, "pixel ({x}, {y}) is outside {}x{}", self.width, self.height);
        let i = 3 * (y * self.width + x);
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// Fills every pixel whose centre lies inside the convex polygon `points`
    /// (in either winding order); parts outside the canvas are clipped.
    pub fn fill_polygon(&mut self, points: &[(f32, f32)], color: [u8; 3]) {
        if points.len() < 3 {
            return;
        }
        let (x0, x1) = self.span(points.iter().map(|p| p.0), self.width);
        let (y0, y1) = self.span(points.iter().map(|p| p.1), self.height);
        // Signed area decides which side of each edge is inside.
        let area: f32 = (0..points.len())
            .map(|i| {
                let (a, b) = (points[i], points[(i + 1) % points.len()]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum();
        let sign = if area < 0.0 { -1.0 } else { 1.0 };
        for y in y0..y1 {
            for x in x0..x1 {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let inside = (0..points.len()).all(|i| {
                    let (a, b) = (points[i], points[(i + 1) % points.len()]);
                    sign * ((b.0 - a.0) * (py - a.1) - (b.1 - a.1) * (px - a.0)) >= 0.0
                });
                if inside {
                    self.put(x, y, color);
                }
            }
        }
    }

    /// Fills the disc of `radius` around `(cx, cy)`.
    pub fn fill_circle(&mut self, cx: f32, cy: f32, radius: f32, color: [u8; 3]) {
        let (x0, x1) = self.span([cx - radius, cx + radius].into_iter(), self.width);
        let (y0, y1) = self.span([cy - radius, cy + radius].into_iter(), self.height);
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if dx * dx + dy * dy <= radius * radius {
                    self.put(x, y, color);
                }
            }
        }
    }

    /// A straight segment `width` pixels wide from `a` to `b` (a rotated rectangle).
    pub fn line(&mut self, a: (f32, f32), b: (f32, f32), width: f32, color: [u8; 3]) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt().max(1e-6);
        let (nx, ny) = (-dy / len * width / 2.0, dx / len * width / 2.0);
        self.fill_polygon(
            &[(a.0 + nx, a.1 + ny), (b.0 + nx, b.1 + ny), (b.0 - nx, b.1 - ny), (a.0 - nx, a.1 - ny)],
            color,
        );
    }

    /// The pixel range `[lo, hi)` covering the coordinates, clipped to `0..limit`.
    fn span(&self, coords: impl Iterator<Item = f32>, limit: usize) -> (usize, usize) {
        let (lo, hi) = coords.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if !(lo.is_finite() && hi.is_finite()) {
            return (0, 0);
        }
        let clip = |v: f32| v.clamp(0.0, limit as f32) as usize;
        (clip(lo.floor()), clip(hi.ceil()))
    }

    fn put(&mut self, x: usize, y: usize, color: [u8; 3]) {
        let i = 3 * (y * self.width + x);
        self.pixels[i..i + 3].copy_from_slice(&color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_cover_their_pixels_only() {
        let mut c = Canvas::new(20, 10, [255; 3]);
        c.fill_circle(5.0, 5.0, 3.0, [1, 2, 3]);
        assert_eq!(c.pixel(5, 5), [1, 2, 3]);
        assert_eq!(c.pixel(9, 5), [255; 3]);
        c.line((10.0, 5.0), (19.0, 5.0), 2.0, [9, 9, 9]);
        assert_eq!((c.pixel(15, 4), c.pixel(15, 5), c.pixel(15, 7)), ([9; 3], [9; 3], [255; 3]));
        // Off-canvas shapes are clipped, not a panic.
        c.fill_circle(-50.0, 500.0, 10.0, [0; 3]);
        c.fill_polygon(&[(-5.0, -5.0), (30.0, -5.0), (30.0, 0.5), (-5.0, 0.5)], [7; 3]);
        assert_eq!(c.pixel(19, 0), [7; 3]);
        assert_eq!(c.pixel(19, 1), [255; 3]);
    }
}
