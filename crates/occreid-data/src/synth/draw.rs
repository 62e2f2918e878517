//! Procedural drawing of one synthetic pedestrian image (see the parent module for what varies with
//! identity, camera and image).
use super::SynthOptions;
use crate::datasets::common::SplitMix64;

type Rgb = [f32; 3];

/// Shared palette: identities draw from it, so a single colour never identifies anyone.
const PALETTE: [Rgb; 16] = [
    [20.0, 20.0, 24.0],
    [235.0, 235.0, 230.0],
    [128.0, 128.0, 128.0],
    [30.0, 40.0, 90.0],
    [40.0, 90.0, 190.0],
    [140.0, 180.0, 220.0],
    [190.0, 30.0, 35.0],
    [110.0, 25.0, 40.0],
    [40.0, 120.0, 60.0],
    [110.0, 110.0, 50.0],
    [200.0, 180.0, 140.0],
    [110.0, 70.0, 40.0],
    [230.0, 200.0, 50.0],
    [230.0, 140.0, 170.0],
    [100.0, 50.0, 130.0],
    [230.0, 120.0, 30.0],
];
const SKIN: [Rgb; 5] = [
    [240.0, 200.0, 170.0],
    [220.0, 170.0, 130.0],
    [180.0, 130.0, 90.0],
    [130.0, 90.0, 60.0],
    [90.0, 60.0, 40.0],
];
const HAIR: [Rgb; 4] = [
    [20.0, 15.0, 10.0],
    [90.0, 55.0, 30.0],
    [200.0, 170.0, 100.0],
    [150.0, 150.0, 150.0],
];

#[derive(Clone, Copy)]
enum Pattern {
    Solid,
    HStripes,
    VStripes,
    Checks,
    Diagonal,
    SplitLeftRight,
    SplitTopBottom,
}

#[derive(Clone, Copy)]
struct Cloth {
    a: Rgb,
    b: Rgb,
    pattern: Pattern,
    /// Pattern period as a fraction of the person's height.
    period: f32,
}

impl Cloth {
    fn random(g: &mut SplitMix64, patterns: &[Pattern]) -> Self {
        let a = colour(g);
        let mut b = colour(g);
        while b == a {
            b = colour(g);
        }
        Self {
            a,
            b,
            pattern: patterns[g.below(patterns.len())],
            period: g.range(0.025, 0.06),
        }
    }
    /// Colour at `(x, y)` inside a garment spanning `box_` (x0, y0, x1, y1), person height `ph`.
    fn at(&self, x: f32, y: f32, box_: [f32; 4], ph: f32, mirror: bool) -> Rgb {
        let p = self.period * ph;
        let (u, v) = ((x - box_[0]) / (box_[2] - box_[0]), (y - box_[1]) / (box_[3] - box_[1]));
        let u = if mirror { 1.0 - u } else { u };
        let odd = |t: f32| (t / p).floor() as i64 % 2 != 0;
        let second = match self.pattern {
            Pattern::Solid => false,
            Pattern::HStripes => odd(y - box_[1]),
            Pattern::VStripes => odd(x - box_[0]),
            Pattern::Checks => odd(y - box_[1]) ^ odd(x - box_[0]),
            Pattern::Diagonal => odd(x + y - box_[0] - box_[1]),
            Pattern::SplitLeftRight => u > 0.5,
            Pattern::SplitTopBottom => v > 0.45,
        };
        if second {
            self.b
        } else {
            self.a
        }
    }
}

fn colour(g: &mut SplitMix64) -> Rgb {
    let c = PALETTE[g.below(PALETTE.len())];
    let j = g.range(-12.0, 12.0);
    [c[0] + j, c[1] + j, c[2] + j]
}

/// Everything that makes one identity recognisable.
struct Identity {
    skin: Rgb,
    hair: Rgb,
    long_hair: bool,
    top: Cloth,
    short_sleeves: bool,
    bottom: Cloth,
    /// 0 trousers, 1 shorts, 2 skirt.
    bottom_kind: u8,
    shoes: Rgb,
    build: f32,
    backpack: Option<Rgb>,
    shoulder_bag: Option<Rgb>,
    cap: Option<Rgb>,
    logo: Option<Rgb>,
}

impl Identity {
    fn new(seed: u64, pid: i64) -> Self {
        let mut g = SplitMix64::stream(seed, pid as u64, 0);
        use Pattern::*;
        let opt = |g: &mut SplitMix64, p: f32| if g.chance(p) { Some(colour(g)) } else { None };
        Self {
            skin: SKIN[g.below(SKIN.len())],
            hair: HAIR[g.below(HAIR.len())],
            long_hair: g.chance(0.3),
            top: Cloth::random(
                &mut g,
                &[
                    Solid,
                    Solid,
                    HStripes,
                    VStripes,
                    Checks,
                    Diagonal,
                    SplitLeftRight,
                    SplitTopBottom,
                ],
            ),
            short_sleeves: g.chance(0.4),
            bottom: Cloth::random(&mut g, &[Solid, Solid, Solid, SplitTopBottom, Checks, VStripes]),
            bottom_kind: [0, 0, 0, 1, 2][g.below(5)],
            shoes: colour(&mut g),
            build: g.range(0.85, 1.15),
            backpack: opt(&mut g, 0.3),
            shoulder_bag: opt(&mut g, 0.25),
            cap: opt(&mut g, 0.2),
            logo: opt(&mut g, 0.3),
        }
    }
}

/// Per-camera scene and optics.
struct Camera {
    wall: Rgb,
    floor: Rgb,
    horizon: f32,
    tile: f32,
    gain: f32,
    cast: Rgb,
    gradient: f32,
    /// Probabilities of front, back, side views.
    views: [f32; 3],
}

impl Camera {
    fn new(seed: u64, cam: usize) -> Self {
        let mut g = SplitMix64::stream(seed, u64::MAX - 1, cam as u64);
        let grey = |g: &mut SplitMix64| {
            let v = g.range(60.0, 200.0);
            [
                v + g.range(-25.0, 25.0),
                v + g.range(-25.0, 25.0),
                v + g.range(-25.0, 25.0),
            ]
        };
        let (f, b) = (g.range(0.1, 1.0), g.range(0.1, 1.0));
        let s = f + b + 0.4;
        Self {
            wall: grey(&mut g),
            floor: grey(&mut g),
            horizon: g.range(0.45, 0.8),
            tile: g.range(6.0, 20.0),
            gain: g.range(0.8, 1.15),
            cast: [g.range(0.9, 1.1), g.range(0.92, 1.08), g.range(0.9, 1.1)],
            gradient: g.range(-0.35, 0.35),
            views: [f / s, b / s, 0.4 / s],
        }
    }
}

pub(super) struct World {
    o: SynthOptions,
    cameras: Vec<Camera>,
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<Rgb>,
}

impl Canvas {
    /// Paints every pixel centre inside `inside` within the bounding box with `paint`.
    fn fill(&mut self, bbox: [f32; 4], inside: impl Fn(f32, f32) -> bool, paint: impl Fn(f32, f32) -> Rgb) {
        let x0 = bbox[0].floor().max(0.0) as usize;
        let y0 = bbox[1].floor().max(0.0) as usize;
        let x1 = (bbox[2].ceil().max(0.0) as usize).min(self.w);
        let y1 = (bbox[3].ceil().max(0.0) as usize).min(self.h);
        for y in y0..y1 {
            for x in x0..x1 {
                let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                if inside(fx, fy) {
                    self.px[y * self.w + x] = paint(fx, fy);
                }
            }
        }
    }
    fn rect(&mut self, r: [f32; 4], paint: impl Fn(f32, f32) -> Rgb) {
        self.fill(r, |_, _| true, paint);
    }
    fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, c: Rgb) {
        let inside = |x: f32, y: f32| ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0;
        self.fill([cx - rx, cy - ry, cx + rx, cy + ry], inside, |_, _| c);
    }
    /// A segment with round ends (limbs, straps, poles).
    fn capsule(&mut self, a: [f32; 2], b: [f32; 2], r: f32, paint: impl Fn(f32, f32) -> Rgb) {
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        let inside = |x: f32, y: f32| {
            let t = (((x - a[0]) * dx + (y - a[1]) * dy) / len2).clamp(0.0, 1.0);
            (x - a[0] - t * dx).powi(2) + (y - a[1] - t * dy).powi(2) <= r * r
        };
        let bbox = [
            a[0].min(b[0]) - r,
            a[1].min(b[1]) - r,
            a[0].max(b[0]) + r,
            a[1].max(b[1]) + r,
        ];
        self.fill(bbox, inside, paint);
    }
}

impl World {
    pub(super) fn new(o: &SynthOptions) -> Self {
        Self {
            o: o.clone(),
            cameras: (0..o.cameras).map(|c| Camera::new(o.seed, c)).collect(),
        }
    }

    /// Draws one image as packed RGB8.
    pub(super) fn draw(&self, pid: i64, index: usize, cam: usize) -> Vec<u8> {
        let (w, h) = (self.o.width as usize, self.o.height as usize);
        let (wf, hf) = (w as f32, h as f32);
        let cam = &self.cameras[cam];
        let id = Identity::new(self.o.seed, pid);
        let mut g = SplitMix64::stream(self.o.seed, pid as u64, 1 + index as u64);
        let mut cv = Canvas {
            w,
            h,
            px: vec![[0.0; 3]; w * h],
        };

        // Background: wall, floor with tiles, clutter.
        let horizon = cam.horizon * hf + g.range(-0.05, 0.05) * hf;
        let tile = cam.tile * hf / 128.0;
        cv.rect([0.0, 0.0, wf, hf], |x, y| {
            if y < horizon {
                cam.wall
            } else {
                let odd = ((x / tile).floor() as i64 + ((y - horizon) / tile).floor() as i64) % 2 != 0;
                let d = if odd { 0.88 } else { 1.0 };
                [cam.floor[0] * d, cam.floor[1] * d, cam.floor[2] * d]
            }
        });
        for _ in 0..g.below(3) {
            let c = colour(&mut g);
            let (x, y) = (g.range(-0.2, 1.0) * wf, g.range(0.0, 0.8) * hf);
            let (bw, bh) = (g.range(0.1, 0.4) * wf, g.range(0.05, 0.3) * hf);
            cv.rect([x, y, x + bw, y + bh], |_, _| c);
        }

        // Person geometry.
        let ph = hf * g.range(0.78, 0.95);
        let cx = wf / 2.0 + g.range(-0.1, 0.1) * wf;
        let top = (hf - ph) / 2.0 + g.range(-0.04, 0.04) * hf;
        let yy = |f: f32| top + f * ph;
        let r = g.f32();
        let view = if r < cam.views[0] {
            0
        } else if r < cam.views[0] + cam.views[1] {
            1
        } else {
            2
        };
        let facing_left = g.chance(0.5);
        let half_w = ph * 0.13 * id.build * if view == 2 { 0.65 } else { 1.0 };
        let torso = [cx - half_w, yy(0.16), cx + half_w, yy(0.52)];
        let stride = g.range(-0.35, 0.35) * if view == 2 { 1.0 } else { 0.4 };
        let swing = g.range(-0.4, 0.4);
        let mirror = view == 1;

        // Backpack seen from the side sticks out behind the torso.
        if let (Some(c), 2) = (id.backpack, view) {
            let bx = if facing_left {
                torso[2] - 0.02 * ph
            } else {
                torso[0] - 0.1 * ph
            };
            cv.rect([bx, yy(0.18), bx + 0.12 * ph, yy(0.45)], |_, _| c);
        }
        // Legs and shoes.
        let hip = yy(0.5);
        let ankle = yy(0.95);
        let leg_r = 0.045 * ph * id.build;
        for side in [-1.0f32, 1.0] {
            let hx = cx + side * half_w * 0.5;
            let foot = [hx + side * stride * 0.5 * ph * 0.25 + stride * 0.1 * ph, ankle];
            let knee_y = yy(0.73);
            let bottom = id.bottom;
            let bottom_box = [cx - half_w, hip, cx + half_w, ankle];
            let cloth_end = match id.bottom_kind {
                0 => 1.0,
                _ => (knee_y - hip) / (ankle - hip),
            };
            let skin = id.skin;
            cv.capsule([hx, hip], foot, leg_r, move |x, y| {
                if (y - hip) / (ankle - hip) <= cloth_end {
                    bottom.at(x, y, bottom_box, ph, mirror)
                } else {
                    skin
                }
            });
            let shoe = id.shoes;
            let toe = if facing_left && view == 2 { -1.0 } else { 1.0 };
            cv.ellipse(
                foot[0] + toe * 0.02 * ph,
                ankle + 0.015 * ph,
                0.05 * ph,
                0.025 * ph,
                shoe,
            );
        }
        if id.bottom_kind == 2 {
            let (b, bb) = (id.bottom, [cx - half_w * 1.5, hip, cx + half_w * 1.5, yy(0.72)]);
            let inside = move |x: f32, y: f32| {
                let t = (y - bb[1]) / (bb[3] - bb[1]);
                (x - cx).abs() <= half_w * (1.0 + 0.5 * t)
            };
            cv.fill(bb, inside, move |x, y| b.at(x, y, bb, ph, mirror));
        }
        // Torso, backpack from behind, logo from the front.
        let t = id.top;
        cv.rect(torso, move |x, y| t.at(x, y, torso, ph, mirror));
        if let (Some(c), 1) = (id.backpack, view) {
            cv.rect([cx - half_w * 0.75, yy(0.2), cx + half_w * 0.75, yy(0.46)], |_, _| c);
        }
        if let (Some(c), 0) = (id.logo, view) {
            let s = 0.05 * ph;
            cv.rect([cx - s, yy(0.24), cx + s, yy(0.24) + s * 1.4], |_, _| c);
        }
        // Arms: sleeve, then skin.
        let arm_r = 0.035 * ph * id.build;
        let sides: &[f32] = if view == 2 { &[1.0] } else { &[-1.0, 1.0] };
        for &side in sides {
            let sx = if view == 2 {
                cx
            } else {
                cx + side * (half_w + arm_r * 0.6)
            };
            let shoulder = [sx, yy(0.18)];
            let hand = [sx + swing * side * 0.12 * ph, yy(0.5)];
            let (sleeve_end, top_c, skin) = (if id.short_sleeves { 0.4 } else { 0.9 }, id.top.a, id.skin);
            cv.capsule(shoulder, hand, arm_r, move |_, y| {
                if (y - shoulder[1]) / (hand[1] - shoulder[1]) <= sleeve_end {
                    top_c
                } else {
                    skin
                }
            });
        }
        // Shoulder bag with strap.
        if let Some(c) = id.shoulder_bag {
            let side = if facing_left { -1.0 } else { 1.0 };
            let bx = cx + side * (half_w + 0.02 * ph);
            cv.capsule(
                [cx - side * half_w * 0.8, yy(0.17)],
                [bx, yy(0.47)],
                0.012 * ph,
                |_, _| c,
            );
            cv.rect([bx - 0.06 * ph, yy(0.44), bx + 0.06 * ph, yy(0.55)], |_, _| c);
        }
        // Head, hair, cap.
        let (hx, hy, hr) = (cx, yy(0.085), 0.062 * ph);
        cv.ellipse(hx, hy, hr * 0.85, hr, id.skin);
        let hair = id.hair;
        if view == 1 {
            cv.ellipse(hx, hy, hr * 0.88, hr * 1.02, hair);
        } else {
            cv.fill(
                [hx - hr, hy - hr * 1.1, hx + hr, hy],
                |x, y| ((x - hx) / (hr * 0.9)).powi(2) + ((y - hy) / (hr * 1.05)).powi(2) <= 1.0 && y < hy - hr * 0.35,
                |_, _| hair,
            );
        }
        if id.long_hair {
            cv.rect([hx - hr * 0.9, hy, hx + hr * 0.9, yy(0.22)], |x, _| {
                if view == 1 || (x - hx).abs() > hr * 0.55 {
                    hair
                } else {
                    id.skin
                }
            });
        }
        if let Some(c) = id.cap {
            cv.fill(
                [hx - hr, hy - hr * 1.15, hx + hr * 1.4, hy - hr * 0.3],
                |x, y| {
                    ((x - hx) / hr).powi(2) + ((y - hy) / (hr * 1.1)).powi(2) <= 1.05
                        || (y > hy - hr * 0.5 && y < hy - hr * 0.3)
                },
                |_, _| c,
            );
        }

        // Occluder in front of the person.
        if g.chance(self.o.occlusion) {
            let c = colour(&mut g);
            match g.below(3) {
                0 => {
                    let x = cx + g.range(-0.3, 0.3) * wf;
                    cv.capsule(
                        [x, yy(g.range(-0.2, 0.3))],
                        [x, hf + 2.0],
                        g.range(0.04, 0.09) * wf,
                        |_, _| c,
                    );
                }
                1 => {
                    let y = yy(g.range(0.45, 0.75));
                    cv.rect([-1.0, y, wf + 1.0, hf + 1.0], |x, _| {
                        if (x / (0.3 * wf)).floor() as i64 % 3 == 0 {
                            [c[0] * 0.7, c[1] * 0.7, c[2] * 0.7]
                        } else {
                            c
                        }
                    });
                }
                _ => {
                    let (x, y) = (g.range(-0.3, 0.7) * wf, yy(g.range(0.1, 0.7)));
                    cv.rect([x, y, x + g.range(0.3, 0.6) * wf, y + g.range(0.2, 0.4) * hf], |_, _| c);
                }
            }
        }

        // Camera optics and sensor noise.
        let gain = cam.gain * g.range(0.93, 1.07);
        let noise = g.range(2.0, 8.0);
        let mut out = Vec::with_capacity(w * h * 3);
        for (i, p) in cv.px.iter().enumerate() {
            let y = (i / w) as f32 / hf - 0.5;
            let light = gain * (1.0 + cam.gradient * y);
            for (v, cast) in p.iter().zip(cam.cast) {
                let n = (g.f32() + g.f32() - 1.0) * noise;
                out.push((v * light * cast + n).round().clamp(0.0, 255.0) as u8);
            }
        }
        out
    }
}
