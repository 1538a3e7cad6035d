// A user's path through the app in a real browser (Debian chromium, driven by playwright-core):
// create a style from a video, pick it, animate a speech file, wait for the video to be playable.
// Usage: node app_flow.js URL VIDEO AUDIO STYLE_NAME OUT_DIR   -> prints one JSON line with what it saw.
const { chromium } = require('playwright-core');
const path = require('path');

const [url, videoFile, audioFile, styleName, outDir] = process.argv.slice(2);
const shot = (page, name) => page.screenshot({ path: path.join(outDir, name), fullPage: true });

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  const result = { consoleErrors };
  try {
    await page.goto(url, { waitUntil: 'networkidle' });
    await shot(page, 'app_start.png');

    // 1. Create a style from the video
    await page.getByRole('tab', { name: 'Create your style' }).click();
    await page.locator('#selfie input[type=file]').setInputFiles(videoFile);
    await page.locator('#style-name textarea, #style-name input').first().fill(styleName);
    await page.locator('#create').click();
    await page.waitForFunction((name) => {
      const s = document.querySelector('#summary');
      return s && s.innerText.includes(`Style '${name}' is ready`);
    }, styleName, { timeout: 120000 });
    await page.locator('#preview img').waitFor({ timeout: 30000 });
    result.summary = await page.locator('#summary').innerText();
    await shot(page, 'app_style_created.png');

    // 2. Animate speech with it
    await page.getByRole('tab', { name: 'Make it speak' }).click();
    await page.locator('#speech').getByRole('button', { name: 'Upload file' }).click();
    await page.locator('#speech input[type=file]').setInputFiles(audioFile);
    await page.locator('#style input').first().click();
    await page.getByRole('option', { name: styleName }).click();
    result.selectedStyle = await page.locator('#style input').first().inputValue();
    await page.locator('#animate').click();
    const handle = await page.waitForFunction(() => {
      const v = document.querySelector('#result-video video');
      return v && v.readyState >= 1 && isFinite(v.duration) && v.duration > 0 ? v.duration : null;
    }, null, { timeout: 120000 });
    result.videoDuration = await handle.jsonValue();
    result.playing = await page.evaluate(async () => {
      const v = document.querySelector('#result-video video');
      v.muted = true;
      try { await v.play(); } catch (e) { return 'play() failed: ' + e; }
      await new Promise((r) => setTimeout(r, 1000));
      return v.currentTime > 0 ? true : 'currentTime stayed 0';
    });
    await page.waitForFunction(() => {  // the downloads (NPZ, OBJ zip, GLB) follow the video
      const i = document.querySelector('#result-info');
      return i && i.innerText.includes('style') && !i.innerText.includes('Preparing');
    }, null, { timeout: 120000 });
    result.info = await page.locator('#result-info').innerText();
    result.downloads = await page.locator('#downloads').innerText();
    await page.waitForTimeout(3000);  // let the 3D viewer load the GLB
    await shot(page, 'app_animated.png');
  } catch (e) {
    result.error = String(e);
    await shot(page, 'app_failure.png').catch(() => {});
  }
  await browser.close();
  console.log(JSON.stringify(result));
})();
