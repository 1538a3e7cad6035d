#version 330
// Lighting in camera space (camera at the origin looking down -z): a warm key light from the upper left,
// a cool dim fill from the right, a rim (Fresnel) light on the silhouette, and a sky/ground ambient.
// Wrapped diffuse keeps the shading soft; all maths in linear RGB, written out as sRGB.
// A photo texture already holds some shading of its own (evened out when it was made), so textured
// surfaces get a flatter mix of the lights (`texture_flatness`): the renderer's light does not double it.
uniform sampler2D skin;
uniform float texture_flatness;
in vec3 v_position;
in vec3 v_normal;
in vec4 v_color;   // a: 1 = textured, 0 = flat colour, -1 = inside the mouth (flat, in its shadow)
in vec2 v_uv;
out vec4 f_color;

// Linear light to gamma 2.2 without pow(): c^(1/2.2) as a polynomial in sqrt(c), fitted over [0, 1] to
// within 0.43 of a level (8 bits); above 1 the output is clipped anyway.
vec3 to_srgb(vec3 c) {
    vec3 s = sqrt(clamp(c, 0.0, 1.0));
    return s * (1.377477 + s * (-1.618749 + s * (3.33479 + s * (-3.312933 + s * 1.221084))));
}
float wrapped(vec3 n, vec3 l, float w) { return max((dot(n, l) + w) / (1.0 + w), 0.0); }
// Whole powers by multiplication: llvmpipe computes pow() as exp2(log2()), which cost 7% of a frame here;
// the frames came out bit-identical to pow() on the demo sequences.
float pow3(float x) { return x * x * x; }
float pow5(float x) { float x2 = x * x; return x2 * x2 * x; }
float pow36(float x) { float x4 = x * x; x4 *= x4; float x32 = x4 * x4; x32 *= x32; x32 *= x32; return x32 * x4; }

void main() {
    vec3 n = normalize(v_normal);
    float inside = gl_FrontFacing ? 0.0 : 1.0;
    if (inside > 0.5) n = -n;
    vec3 v = normalize(-v_position);
    float textured = max(v_color.a, 0.0);
    float interior = max(-v_color.a, 0.0);
    // sRGB (gamma 2.2) to linear light without pow() per pixel (10% of a frame's CPU on llvmpipe): the
    // texture and the colours come raised to the power 1.1 (renderer._upload, face.vert), and the power of
    // a product is the product of the powers, so squaring gives the power 2.2.
    vec3 half_linear = mix(v_color.rgb, texture(skin, v_uv).rgb * v_color.rgb, textured);
    vec3 albedo = half_linear * half_linear;

    vec3 key_dir = normalize(vec3(-0.60, 0.50, 0.62));
    vec3 fill_dir = normalize(vec3(0.75, -0.10, 0.50));
    vec3 key = vec3(1.00, 0.93, 0.84) * 1.9 * wrapped(n, key_dir, 0.3);
    vec3 fill = vec3(0.72, 0.80, 1.00) * 0.38 * wrapped(n, fill_dir, 0.5);
    vec3 ambient = mix(vec3(0.10, 0.08, 0.07), vec3(0.17, 0.18, 0.22), 0.5 + 0.5 * n.y);
    vec3 light = key + fill + ambient;
    // The same lights seen head-on: what a face-on surface gets; flat light is this, everywhere.
    vec3 head_on = vec3(1.00, 0.93, 0.84) * 1.9 * wrapped(vec3(0.0, 0.0, 1.0), key_dir, 0.3)
                 + vec3(0.72, 0.80, 1.00) * 0.38 * wrapped(vec3(0.0, 0.0, 1.0), fill_dir, 0.5);
    // A photo is already exposed: scale the lights so that a face-on surface shows it as it was taken,
    // then blend toward flat light (shape from the normal's facing only) by texture_flatness.
    float exposure = 1.0 / dot(head_on + vec3(0.135, 0.13, 0.145), vec3(0.2126, 0.7152, 0.0722));
    light = mix(light, light * exposure, textured);
    float flat_share = texture_flatness * textured;
    light = mix(light, vec3(0.8 + 0.2 * max(n.z, 0.0)), flat_share);
    light *= 1.0 - 0.35 * interior;              // the lips and cheeks shade the inside of the mouth
    vec3 color = albedo * light;

    // Skin scatters red light into the terminator: a little warmth where the key light fades.
    float terminator = smoothstep(0.0, 0.3, dot(n, key_dir) + 0.3) * (1.0 - smoothstep(0.3, 0.7, dot(n, key_dir)));
    color += albedo * vec3(0.25, 0.06, 0.03) * terminator * (1.0 - flat_share);

    vec3 h = normalize(key_dir + v);
    float fresnel = 0.04 + 0.96 * pow5(1.0 - max(dot(h, v), 0.0));
    float outside = (1.0 - inside) * (1.0 - interior);
    color += vec3(1.0, 0.96, 0.9) * 0.35 * fresnel * pow36(max(dot(n, h), 0.0)) * outside;

    float rim = pow3(1.0 - max(dot(n, v), 0.0));
    color += vec3(0.55, 0.62, 0.75) * 0.45 * rim * (0.6 + 0.4 * n.y) * outside;

    color *= mix(1.0, 0.3, inside);                // the back of the mesh, seen through an opening
    color = mix(color / (1.0 + 0.25 * color), min(color, vec3(1.0)), textured);  // soft shoulder (not on photos)
    f_color = vec4(to_srgb(color), 1.0);
}
