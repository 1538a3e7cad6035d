#version 330
// A vertical gradient with a faint vignette.
uniform vec3 top;
uniform vec3 bottom;
in vec2 uv;
out vec4 f_color;
void main() {
    vec3 c = mix(bottom, top, uv.y);
    float vignette = 1.0 - 0.35 * dot(uv - 0.5, uv - 0.5);
    f_color = vec4(c * vignette, 1.0);
}
