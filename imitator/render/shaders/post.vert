#version 330
// A full-screen triangle for post passes over a framebuffer (anti-aliasing, colour conversion).
void main() {
    vec2 uv = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    gl_Position = vec4(uv * 2.0 - 1.0, 0.0, 1.0);
}
