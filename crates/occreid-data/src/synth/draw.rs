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
        let cam = &self.cameras[cam];
        let id = Identity::new(self.o.seed, pid);
        let mut g = SplitMix64::stream(self.o.seed, pid as u64, 1 + index as u64);
        let mut cv = Canvas {
            w,
            h,
            px: vec![[0.0; 3]; w * h],
        };
        background(&mut cv, cam, &mut g);
        let pose = Pose::sample(&mut g, cam, &id, w as f32, h as f32);
        lower_body(&mut cv, &id, &pose);
        upper_body(&mut cv, &id, &pose);
        head(&mut cv, &id, &pose);
        if g.chance(self.o.occlusion) {
            occluder(&mut cv, &mut g, &pose);
        }
        optics(&cv, cam, &mut g)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Front,
    Back,
    Side,
}

/// Where the person stands and how, in one image.
struct Pose {
    /// Person height in pixels.
    ph: f32,
    cx: f32,
    top: f32,
    view: View,
    facing_left: bool,
    half_w: f32,
    stride: f32,
    swing: f32,
}

impl Pose {
    fn sample(g: &mut SplitMix64, cam: &Camera, id: &Identity, wf: f32, hf: f32) -> Self {
        let ph = hf * g.range(0.78, 0.95);
        let cx = wf / 2.0 + g.range(-0.1, 0.1) * wf;
        let top = (hf - ph) / 2.0 + g.range(-0.04, 0.04) * hf;
        let r = g.f32();
        let view = if r < cam.views[0] {
            View::Front
        } else if r < cam.views[0] + cam.views[1] {
            View::Back
        } else {
            View::Side
        };
        let side = view == View::Side;
        Self {
            ph,
            cx,
            top,
            view,
            facing_left: g.chance(0.5),
            half_w: ph * 0.13 * id.build * if side { 0.65 } else { 1.0 },
            stride: g.range(-0.35, 0.35) * if side { 1.0 } else { 0.4 },
            swing: g.range(-0.4, 0.4),
        }
    }
    /// Image row at fraction `f` of the person's height.
    fn y(&self, f: f32) -> f32 {
        self.top + f * self.ph
    }
    /// Seen from behind, left and right swap.
    fn mirror(&self) -> bool {
        self.view == View::Back
    }
    fn torso(&self) -> [f32; 4] {
        [self.cx - self.half_w, self.y(0.16), self.cx + self.half_w, self.y(0.52)]
    }
}

/// Wall, tiled floor, and a few clutter blocks.
fn background(cv: &mut Canvas, cam: &Camera, g: &mut SplitMix64) {
    let (wf, hf) = (cv.w as f32, cv.h as f32);
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
        let c = colour(g);
        let (x, y) = (g.range(-0.2, 1.0) * wf, g.range(0.0, 0.8) * hf);
        let (bw, bh) = (g.range(0.1, 0.4) * wf, g.range(0.05, 0.3) * hf);
        cv.rect([x, y, x + bw, y + bh], |_, _| c);
    }
}

/// A side-view backpack (behind everything), legs, shoes, skirt.
fn lower_body(cv: &mut Canvas, id: &Identity, p: &Pose) {
    let (ph, cx, half_w, mirror) = (p.ph, p.cx, p.half_w, p.mirror());
    if let (Some(c), View::Side) = (id.backpack, p.view) {
        let torso = p.torso();
        let bx = if p.facing_left {
            torso[2] - 0.02 * ph
        } else {
            torso[0] - 0.1 * ph
        };
        cv.rect([bx, p.y(0.18), bx + 0.12 * ph, p.y(0.45)], |_, _| c);
    }
    let (hip, knee, ankle) = (p.y(0.5), p.y(0.73), p.y(0.95));
    let leg_r = 0.045 * ph * id.build;
    let (bottom, skin) = (id.bottom, id.skin);
    let bottom_box = [cx - half_w, hip, cx + half_w, ankle];
    // Trousers reach the ankle; shorts and skirts stop at the knee.
    let cloth_end = if id.bottom_kind == 0 { ankle } else { knee };
    for side in [-1.0f32, 1.0] {
        let hx = cx + side * half_w * 0.5;
        let foot = [hx + side * p.stride * 0.125 * ph + p.stride * 0.1 * ph, ankle];
        cv.capsule([hx, hip], foot, leg_r, move |x, y| {
            if y <= cloth_end {
                bottom.at(x, y, bottom_box, ph, mirror)
            } else {
                skin
            }
        });
        let toe = if p.facing_left && p.view == View::Side {
            -1.0
        } else {
            1.0
        };
        let shoe = [foot[0] + toe * 0.02 * ph, ankle + 0.015 * ph];
        cv.ellipse(shoe[0], shoe[1], 0.05 * ph, 0.025 * ph, id.shoes);
    }
    if id.bottom_kind == 2 {
        let bb = [cx - half_w * 1.5, hip, cx + half_w * 1.5, p.y(0.72)];
        let inside = move |x: f32, y: f32| (x - cx).abs() <= half_w * (1.0 + 0.5 * (y - bb[1]) / (bb[3] - bb[1]));
        cv.fill(bb, inside, move |x, y| bottom.at(x, y, bb, ph, mirror));
    }
}

/// Torso, a backpack seen from behind, a logo seen from the front, arms, a shoulder bag.
fn upper_body(cv: &mut Canvas, id: &Identity, p: &Pose) {
    let (ph, cx, half_w, mirror) = (p.ph, p.cx, p.half_w, p.mirror());
    let (top, torso) = (id.top, p.torso());
    cv.rect(torso, move |x, y| top.at(x, y, torso, ph, mirror));
    if let (Some(c), View::Back) = (id.backpack, p.view) {
        cv.rect([cx - half_w * 0.75, p.y(0.2), cx + half_w * 0.75, p.y(0.46)], |_, _| c);
    }
    if let (Some(c), View::Front) = (id.logo, p.view) {
        let s = 0.05 * ph;
        cv.rect([cx - s, p.y(0.24), cx + s, p.y(0.24) + s * 1.4], |_, _| c);
    }
    // Arms: sleeve, then skin.
    let arm_r = 0.035 * ph * id.build;
    let sides: &[f32] = if p.view == View::Side { &[1.0] } else { &[-1.0, 1.0] };
    let (sleeve_end, sleeve, skin) = (if id.short_sleeves { 0.4 } else { 0.9 }, id.top.a, id.skin);
    for &side in sides {
        let sx = if p.view == View::Side {
            cx
        } else {
            cx + side * (half_w + arm_r * 0.6)
        };
        let shoulder = [sx, p.y(0.18)];
        let hand = [sx + p.swing * side * 0.12 * ph, p.y(0.5)];
        cv.capsule(shoulder, hand, arm_r, move |_, y| {
            if (y - shoulder[1]) / (hand[1] - shoulder[1]) <= sleeve_end {
                sleeve
            } else {
                skin
            }
        });
    }
    if let Some(c) = id.shoulder_bag {
        let side = if p.facing_left { -1.0 } else { 1.0 };
        let bx = cx + side * (half_w + 0.02 * ph);
        let strap = ([cx - side * half_w * 0.8, p.y(0.17)], [bx, p.y(0.47)]);
        cv.capsule(strap.0, strap.1, 0.012 * ph, |_, _| c);
        cv.rect([bx - 0.06 * ph, p.y(0.44), bx + 0.06 * ph, p.y(0.55)], |_, _| c);
    }
}

/// Face, hair (covering the head from behind), long hair, cap.
fn head(cv: &mut Canvas, id: &Identity, p: &Pose) {
    let (hx, hy, hr) = (p.cx, p.y(0.085), 0.062 * p.ph);
    let (hair, skin, back) = (id.hair, id.skin, p.view == View::Back);
    cv.ellipse(hx, hy, hr * 0.85, hr, skin);
    if back {
        cv.ellipse(hx, hy, hr * 0.88, hr * 1.02, hair);
    } else {
        let inside = |x: f32, y: f32| {
            ((x - hx) / (hr * 0.9)).powi(2) + ((y - hy) / (hr * 1.05)).powi(2) <= 1.0 && y < hy - hr * 0.35
        };
        cv.fill([hx - hr, hy - hr * 1.1, hx + hr, hy], inside, |_, _| hair);
    }
    if id.long_hair {
        let around_face = |x: f32, _| if back || (x - hx).abs() > hr * 0.55 { hair } else { skin };
        cv.rect([hx - hr * 0.9, hy, hx + hr * 0.9, p.y(0.22)], around_face);
    }
    if let Some(c) = id.cap {
        let inside = |x: f32, y: f32| {
            ((x - hx) / hr).powi(2) + ((y - hy) / (hr * 1.1)).powi(2) <= 1.05
                || (y > hy - hr * 0.5 && y < hy - hr * 0.3)
        };
        cv.fill(
            [hx - hr, hy - hr * 1.15, hx + hr * 1.4, hy - hr * 0.3],
            inside,
            |_, _| c,
        );
    }
}

/// Something in front of the person: a pole, a car-like block over the legs, or a box.
fn occluder(cv: &mut Canvas, g: &mut SplitMix64, p: &Pose) {
    let (wf, hf) = (cv.w as f32, cv.h as f32);
    let c = colour(g);
    match g.below(3) {
        0 => {
            let x = p.cx + g.range(-0.3, 0.3) * wf;
            let (from, r) = ([x, p.y(g.range(-0.2, 0.3))], g.range(0.04, 0.09) * wf);
            cv.capsule(from, [x, hf + 2.0], r, |_, _| c);
        }
        1 => {
            let y = p.y(g.range(0.45, 0.75));
            let dark = [c[0] * 0.7, c[1] * 0.7, c[2] * 0.7];
            cv.rect([-1.0, y, wf + 1.0, hf + 1.0], |x, _| {
                if (x / (0.3 * wf)).floor() as i64 % 3 == 0 {
                    dark
                } else {
                    c
                }
            });
        }
        _ => {
            let (x, y) = (g.range(-0.3, 0.7) * wf, p.y(g.range(0.1, 0.7)));
            cv.rect([x, y, x + g.range(0.3, 0.6) * wf, y + g.range(0.2, 0.4) * hf], |_, _| c);
        }
    }
}

/// Camera gain with a vertical gradient, colour cast, and sensor noise; packed RGB8.
fn optics(cv: &Canvas, cam: &Camera, g: &mut SplitMix64) -> Vec<u8> {
    let gain = cam.gain * g.range(0.93, 1.07);
    let noise = g.range(2.0, 8.0);
    let mut out = Vec::with_capacity(cv.w * cv.h * 3);
    for (i, p) in cv.px.iter().enumerate() {
        let y = (i / cv.w) as f32 / cv.h as f32 - 0.5;
        let light = gain * (1.0 + cam.gradient * y);
        for (v, cast) in p.iter().zip(cam.cast) {
            let n = (g.f32() + g.f32() - 1.0) * noise;
            out.push((v * light * cast + n).round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}
