#version 330
// The pass after the scene: anti-aliasing and/or the conversion to the video's YUV, in one go.
//
// Fast approximate anti-aliasing (after Timothy Lottes' FXAA 3.11, console variant) over the rendered crop:
// on llvmpipe, 4x MSAA took half of a frame's CPU time (depth and colour per sample, then the resolve);
// this pass smooths the same edges for a fraction of that. A pixel whose neighbourhood has little contrast
// is left exactly as drawn (the texture's detail stays sharp); on an edge, the colour is blended along the
// edge's direction, at most SPAN_MAX / 2 pixels away (the renderer redraws that much around what moved).
//
// YUV: x264 wants planar 4:2:0 video; converting 150 RGB frames in swscale took about 0.15 s of CPU per
// 5 s, and here only the redrawn box is converted. Out: (Y, U, V) in place of (R, G, B), BT.601 limited
// range as swscale writes it; U and V are the mean of the pixel's 2x2 block (the block's four pixels
// get the same), taken with one bilinear tap at the block's centre (before anti-aliasing: chroma at half
// resolution is itself an average over the edge). The block grid is the frame's: the crop starts at even
// pixels, and so does every frame's tile in the atlas (render/atlas.py).
//
// The scene texture is an atlas of several frames' tiles; FXAA clamps its reads to this pixel's tile, as the
// texture's edge would clamp them if it held the crop alone (the atlas's sides are powers of two, so a tap
// clamped to an edge texel's centre takes exactly nothing from beyond it).
//
// SMOOTH_EDGES and TO_YUV (0 or 1) are defined by the renderer, which compiles one program per pair it uses:
// llvmpipe runs a branch on a uniform for every pixel, taken or not, so with uniform switches even a plain
// copy paid for the whole FXAA (3.2 ms a frame against 0.4 ms).
uniform sampler2D scene;
uniform ivec4 tile;     // the tile's first and last texels: (x0, y0, x1, y1)
out vec4 f_color;

const float SPAN_MAX = 4.0;
const float REDUCE_MUL = 1.0 / 8.0;
const float REDUCE_MIN = 1.0 / 128.0;
const float EDGE_MIN = 1.0 / 24.0;      // contrast below this (in luma) is not an edge
const float EDGE_SHARE = 1.0 / 8.0;     // nor is contrast below this share of the brightest neighbour

float luma(vec3 c) { return dot(c, vec3(0.299, 0.587, 0.114)); }

vec3 fxaa(vec2 uv, vec2 texel);

void main() {
    vec2 texel = 1.0 / vec2(textureSize(scene, 0));
    vec2 uv = gl_FragCoord.xy * texel;
#if SMOOTH_EDGES
    vec3 rgb = fxaa(uv, texel);
#else
    vec3 rgb = texelFetch(scene, ivec2(gl_FragCoord.xy), 0).rgb;
#endif
#if !TO_YUV
    f_color = vec4(rgb, 1.0);
#else
    vec3 block = texture(scene, (floor(gl_FragCoord.xy * 0.5) * 2.0 + 1.0) * texel).rgb;
    f_color = vec4((16.0 + dot(rgb, vec3(65.481, 128.553, 24.966))) / 255.0,
                   (128.0 + dot(block, vec3(-37.797, -74.203, 112.0))) / 255.0,
                   (128.0 + dot(block, vec3(112.0, -93.786, -18.214))) / 255.0, 1.0);
#endif
}

vec3 tap(vec2 uv, vec2 texel) {
    return texture(scene, clamp(uv, (vec2(tile.xy) + 0.5) * texel, (vec2(tile.zw) + 0.5) * texel)).rgb;
}

vec3 fxaa(vec2 uv, vec2 texel) {
    ivec2 p = ivec2(gl_FragCoord.xy);
    vec3 m = texelFetch(scene, p, 0).rgb;
    float nw = luma(texelFetch(scene, clamp(p + ivec2(-1, -1), tile.xy, tile.zw), 0).rgb);
    float ne = luma(texelFetch(scene, clamp(p + ivec2(1, -1), tile.xy, tile.zw), 0).rgb);
    float sw = luma(texelFetch(scene, clamp(p + ivec2(-1, 1), tile.xy, tile.zw), 0).rgb);
    float se = luma(texelFetch(scene, clamp(p + ivec2(1, 1), tile.xy, tile.zw), 0).rgb);
    float lm = luma(m);
    float lo = min(lm, min(min(nw, ne), min(sw, se)));
    float hi = max(lm, max(max(nw, ne), max(sw, se)));
    if (hi - lo < max(EDGE_MIN, hi * EDGE_SHARE))
        return m;
    vec2 dir = vec2(-((nw + ne) - (sw + se)), (nw + sw) - (ne + se));
    float reduce = max((nw + ne + sw + se) * 0.25 * REDUCE_MUL, REDUCE_MIN);
    dir = clamp(dir / (min(abs(dir.x), abs(dir.y)) + reduce), -SPAN_MAX, SPAN_MAX) * texel;
    vec3 a = 0.5 * (tap(uv + dir * (1.0 / 3.0 - 0.5), texel) + tap(uv + dir * (2.0 / 3.0 - 0.5), texel));
    vec3 b = 0.5 * a + 0.25 * (tap(uv - dir * 0.5, texel) + tap(uv + dir * 0.5, texel));
    float lb = luma(b);
    return (lb < lo || lb > hi) ? a : b;
}
