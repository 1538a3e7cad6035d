// A person's path through the app in a real browser (Debian chromium, driven by playwright-core):
// the first screen (a result already there, its 3D view playing with sound), step 1 refused with a message
// that stays, step 1 done, step 2 on long speech (how often the progress moves), the 3D view of the new
// result playing, a style renamed and deleted, and the first screen at 390 px wide.
// Usage: node app_flow.js URL CONFIG.json OUT_DIR   -> prints one JSON line with what it saw.
// CONFIG: {selfie, shortClip, muteClip, speech, speechVideo, styleName, newName}
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const [url, configFile, outDir] = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(configFile, 'utf8'));
const shot = (page, name) => page.screenshot({ path: path.join(outDir, name), fullPage: true });
const text = (page, sel) => page.locator(sel).innerText();

// Play the 3D view for a while; report whether its clock and its picture moved.
async function play3d(page) {
  await page.waitForFunction(() => {
    const r = document.querySelector('#viewer .imv');
    return r && r.dataset.state && r.dataset.state !== 'loading';
  }, null, { timeout: 60000 });
  const state = await page.evaluate(() => document.querySelector('#viewer .imv').dataset.state);
  if (state !== 'ready') return { state };
  const picture = () => page.evaluate(() => {  // a small grey-level fingerprint of the canvas
    const c = document.querySelector('#viewer canvas'), s = document.createElement('canvas');
    s.width = 32; s.height = 32;
    const g = s.getContext('2d');
    g.drawImage(c, 0, 0, 32, 32);
    const d = g.getImageData(0, 0, 32, 32).data;
    const out = [];
    for (let i = 0; i < d.length; i += 4) out.push(d[i] + d[i + 1] + d[i + 2]);
    return out;
  });
  await page.evaluate(() => { document.querySelector('#viewer audio').muted = true; });
  const before = await picture();
  await page.locator('#viewer button.imv-play').click();
  await page.waitForTimeout(1500);
  const after = await picture();
  const r = await page.evaluate(() => {
    const a = document.querySelector('#viewer audio'), root = document.querySelector('#viewer .imv');
    return { audioTime: a.currentTime, drawnTime: parseFloat(root.dataset.time), paused: a.paused,
             duration: a.duration };
  });
  r.state = state;
  r.faceDrawn = after.filter((v) => v > 200).length;  // bright face pixels on the dark background
  r.pictureChanged = before.some((v, i) => Math.abs(v - after[i]) > 30);
  await page.locator('#viewer button.imv-play').click();  // pause
  return r;
}

async function waitStatus(page, sel, kinds, timeout) {
  await page.waitForFunction(([s, k]) => {
    const e = document.querySelector(s + ' .status');
    return e && k.some((c) => e.classList.contains(c));
  }, [sel, kinds], { timeout });
  return page.evaluate((s) => {
    const e = document.querySelector(s + ' .status');
    return { kind: e.className.replace('status ', ''), text: e.innerText };
  }, sel);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  const result = { consoleErrors };
  try {
    await page.goto(url, { waitUntil: 'networkidle' });
    // The first screen: steps in order, a result already there
    result.stepTitles = await page.locator('.step-title h2').allInnerTexts();
    result.firstVideo = await page.evaluate(() => !!document.querySelector('#result-video video'));
    // a label badge over the video hid the "generic" caption of side-by-side videos
    result.videoBadges = await page.evaluate(() => Array.from(
      document.querySelectorAll('#result-video [data-testid="block-label"]')).filter((e) => e.offsetParent).length);
    result.firstDownloads = await text(page, '#downloads');
    result.first3d = await play3d(page);
    await shot(page, 'app.png');

    // Step 1, refused up front: a 1.1 s clip, then a video without sound; the message stays
    await page.locator('#selfie input[type=file]').setInputFiles(cfg.shortClip);
    await page.locator('#style-name input, #style-name textarea').first().fill('Kurz');
    let t0 = Date.now();
    await page.locator('#create').click();
    result.shortClip = await waitStatus(page, '#create-status', ['error'], 60000);
    result.shortClip.seconds = (Date.now() - t0) / 1000;
    await page.waitForTimeout(17000);  // longer than a toast lives
    result.shortClip.stillVisible = await page.locator('#create-status .status.error').isVisible();
    result.toasts = await page.locator('.toast-body').count();
    await page.reload({ waitUntil: 'networkidle' });  // a fresh page: same browser, same styles
    await page.locator('#selfie input[type=file]').setInputFiles(cfg.muteClip);
    await page.locator('#style-name input, #style-name textarea').first().fill('Stumm');
    t0 = Date.now();
    await page.locator('#create').click();
    result.muteClip = await waitStatus(page, '#create-status', ['error'], 60000);
    result.muteClip.seconds = (Date.now() - t0) / 1000;

    // Step 1 done: a style named with an accent
    await page.reload({ waitUntil: 'networkidle' });
    await page.locator('#selfie input[type=file]').setInputFiles(cfg.selfie);
    await page.locator('#style-name input, #style-name textarea').first().fill(cfg.styleName);
    await page.locator('#create').click();
    result.created = await waitStatus(page, '#create-status', ['ok', 'error'], 300000);
    result.previewShown = await page.locator('#preview img').count() > 0;
    result.selectedStyle = await page.locator('#style input').first().inputValue();

    // Step 2: a video is accepted as speech (no MIME-type refusal), then long speech; the progress is watched
    await page.locator('#speech input[type=file]').setInputFiles(cfg.speechVideo);
    await page.waitForTimeout(1500);
    result.speechVideoShown = await text(page, '#speech');
    result.toastsAfterVideo = await page.locator('.toast-body').count();
    await page.reload({ waitUntil: 'networkidle' });
    await page.locator('#style input').first().click();
    await page.getByRole('option', { name: cfg.styleName, exact: true }).click();
    await page.locator('#speech input[type=file]').setInputFiles(cfg.speech);
    await page.waitForFunction(() => document.querySelector('#speech').innerText.includes('lecture'), null,
      { timeout: 30000 });
    await page.waitForTimeout(1500);
    await page.locator('#animate').click();
    const changes = [];
    let last = null;
    t0 = Date.now();
    for (;;) {
      const now = await page.evaluate(() => {
        const p = document.querySelector('#result .progress-level');
        const s = document.querySelector('#animate-status .status');
        return { progress: p ? p.innerText.replace(/\s+/g, ' ') : null, status: s ? s.className : '' };
      });
      const t = (Date.now() - t0) / 1000;
      if (now.progress && now.progress !== last) { changes.push([t, now.progress]); last = now.progress; }
      if (now.status.includes('ok') || now.status.includes('error') || t > 600) break;
      await page.waitForTimeout(100);
    }
    const gaps = changes.slice(1).map((c, i) => c[0] - changes[i][0]);
    const worst = gaps.map((g, i) => [Math.round(g * 100) / 100, changes[i][1]]).sort((a, b) => b[0] - a[0]);
    result.progress = { updates: changes.length, maxGap: Math.max(...gaps), seconds: (Date.now() - t0) / 1000,
                        worst: worst.slice(0, 3),
                        samples: changes.filter((c, i) => i % 15 === 0).map((c) => c[1]).slice(0, 40) };
    result.animateStatus = await waitStatus(page, '#animate-status', ['ok', 'error'], 10000);
    result.videoDuration = await page.evaluate(() => {
      const v = document.querySelector('#result-video video');
      return v && isFinite(v.duration) ? v.duration : null;
    });
    result.info = await text(page, '#result-info');
    result.downloads = await text(page, '#downloads');
    result.new3d = await play3d(page);
    await shot(page, 'app_result.png');

    // Styles: rename, then delete; each shows in the table and the picker
    await page.locator('#manage').getByText('Your styles').first().click();
    await page.locator('#manage-pick input').first().click();
    await page.getByRole('option', { name: cfg.styleName, exact: true }).click();
    await page.locator('#manage-text input, #manage-text textarea').first().fill(cfg.newName);
    await page.locator('#rename').click();
    result.renamed = await waitStatus(page, '#manage-status', ['ok', 'error'], 30000);
    result.tableAfterRename = await text(page, '#styles-table');
    await page.locator('#delete').click();
    await page.waitForFunction((n) => document.querySelector('#manage-status').innerText.includes('Deleted')
      || document.querySelector('#manage-status .error'), cfg.newName, { timeout: 30000 });
    result.deleted = await waitStatus(page, '#manage-status', ['ok', 'error'], 30000);
    result.tableAfterDelete = await text(page, '#styles-table');

    // A phone: 390 px wide
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.goto(url, { waitUntil: 'networkidle' });
    await phone.waitForFunction(() => {
      const r = document.querySelector('#viewer .imv');
      return r && r.dataset.state === 'ready';
    }, null, { timeout: 60000 });
    result.phone = await phone.evaluate(() => {
      const box = (s) => { const r = document.querySelector(s).getBoundingClientRect(); return [r.left, r.top, r.width]; };
      return { video: box('#result-video'), viewer: box('#viewer canvas'), step1: box('#step1'),
               scrollWidth: document.documentElement.scrollWidth };
    });
    await shot(phone, 'app_390.png');
  } catch (e) {
    result.error = String(e);
    await shot(page, 'app_failure.png').catch(() => {});
  }
  await browser.close();
  console.log(JSON.stringify(result));
})();
