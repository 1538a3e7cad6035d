#version 330
// Fast approximate anti-aliasing (after Timothy Lottes' FXAA 3.11, console variant) over the rendered crop:
// on llvmpipe, 4x MSAA took half of a frame's CPU time (depth and colour per sample, then the resolve);
// this pass smooths the same edges for a fraction of that. A pixel whose neighbourhood has little contrast
// is left exactly as drawn (the texture's detail stays sharp); on an edge, the colour is blended along the
// edge's direction, at most SPAN_MAX / 2 pixels away (the renderer redraws that much around what moved).
uniform sampler2D scene;
out vec4 f_color;

const float SPAN_MAX = 4.0;
const float REDUCE_MUL = 1.0 / 8.0;
const float REDUCE_MIN = 1.0 / 128.0;
const float EDGE_MIN = 1.0 / 24.0;      // contrast below this (in luma) is not an edge
const float EDGE_SHARE = 1.0 / 8.0;     // nor is contrast below this share of the brightest neighbour

float luma(vec3 c) { return dot(c, vec3(0.299, 0.587, 0.114)); }

void main() {
    vec2 texel = 1.0 / vec2(textureSize(scene, 0));
    vec2 uv = gl_FragCoord.xy * texel;
    ivec2 p = ivec2(gl_FragCoord.xy);
    ivec2 top = textureSize(scene, 0) - 1;
    vec3 m = texelFetch(scene, p, 0).rgb;
    float nw = luma(texelFetch(scene, clamp(p + ivec2(-1, -1), ivec2(0), top), 0).rgb);
    float ne = luma(texelFetch(scene, clamp(p + ivec2(1, -1), ivec2(0), top), 0).rgb);
    float sw = luma(texelFetch(scene, clamp(p + ivec2(-1, 1), ivec2(0), top), 0).rgb);
    float se = luma(texelFetch(scene, clamp(p + ivec2(1, 1), ivec2(0), top), 0).rgb);
    float lm = luma(m);
    float lo = min(lm, min(min(nw, ne), min(sw, se)));
    float hi = max(lm, max(max(nw, ne), max(sw, se)));
    if (hi - lo < max(EDGE_MIN, hi * EDGE_SHARE)) {
        f_color = vec4(m, 1.0);
        return;
    }
    vec2 dir = vec2(-((nw + ne) - (sw + se)), (nw + sw) - (ne + se));
    float reduce = max((nw + ne + sw + se) * 0.25 * REDUCE_MUL, REDUCE_MIN);
    dir = clamp(dir / (min(abs(dir.x), abs(dir.y)) + reduce), -SPAN_MAX, SPAN_MAX) * texel;
    vec3 a = 0.5 * (texture(scene, uv + dir * (1.0 / 3.0 - 0.5)).rgb + texture(scene, uv + dir * (2.0 / 3.0 - 0.5)).rgb);
    vec3 b = 0.5 * a + 0.25 * (texture(scene, uv - dir * 0.5).rgb + texture(scene, uv + dir * 0.5).rgb);
    float lb = luma(b);
    f_color = vec4((lb < lo || lb > hi) ? a : b, 1.0);
}
