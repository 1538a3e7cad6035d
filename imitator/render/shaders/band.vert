#version 330
// Rectangles around the edges that need anti-aliasing (render/edges.py), given in the atlas's pixels.
uniform vec2 atlas;
in vec2 in_pixel;
void main() {
    gl_Position = vec4(in_pixel / atlas * 2.0 - 1.0, 0.0, 1.0);
}
