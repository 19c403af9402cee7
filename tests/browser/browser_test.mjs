// snak's web page in a real browser: Debian's chromium driven by playwright-core, against the
// real snak binary on ephemeral loopback ports. Each scenario waits for events with timeouts,
// never for a fixed time. Writes $SNAK_RESULTS_DIR/browser.result (see the Makefile's summary).
//
// Env: SNAK_BIN (default target/debug/snak), SNAK_RESULTS_DIR (default target/test-results),
// CHROMIUM (default /usr/bin/chromium). SNAK_WEB_BRIDGE, for development only: a command that
// serves the page and relays /ws to snak's IRC port, used when snak has no --web-listen; it is
// started as `CMD --irc ADDR --page FILE --files` and prints `listening web ADDR` and `ready`.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SNAK = process.env.SNAK_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'debug', 'snak');
const RESULTS = process.env.SNAK_RESULTS_DIR || path.join(root, 'target', 'test-results');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BRIDGE = process.env.SNAK_WEB_BRIDGE || '';
const PAGE_FILE = path.join(root, 'src', 'front', 'web', 'client.html');
const WAIT = 15000; // the longest any one event may take
const SCENARIO_TIMEOUT = 90000;
const INSTALL = 'apt-get install chromium nodejs npm';

// ------------------------------------------------------------------ results
function writeResult({ ran, passed, failed, skipped, skips, fails }) {
  mkdirSync(RESULTS, { recursive: true });
  const lines = ['suite browser', `ran ${ran}`, `passed ${passed}`, `failed ${failed}`, `skipped ${skipped}`,
    ...skips.map(([id, why]) => `skip ${id}: ${why}`), ...fails.map((id) => `fail ${id}`)];
  writeFileSync(path.join(RESULTS, 'browser.result'), lines.join('\n') + '\n');
  console.log(`browser: ${passed} passed, ${failed} failed, ${skipped} skipped`);
}
function skipSuite(why) {
  console.log('browser suite skipped: ' + why);
  writeResult({ ran: 0, passed: 0, failed: 0, skipped: 1, skips: [['browser', why]], fails: [] });
  process.exit(0);
}

// ------------------------------------------------------------------ processes
const started = new Set(); // every child, so an interrupted run still stops them (by PID)
function stopAll() { for (const p of started) { try { p.kill('SIGKILL'); } catch { /* gone */ } } }
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => { t = setTimeout(() => rej(new Error('timed out: ' + what)), ms); })]).finally(() => clearTimeout(t));
}

// Starts a process that prints `listening KIND ADDR` lines, then `ready`; returns the addresses.
function launch(cmd, argv, label) {
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  started.add(proc);
  proc.on('exit', () => started.delete(proc));
  const addrs = {};
  let err = '';
  proc.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  const ready = new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        const m = line.match(/^listening (\S+) (\S+)$/);
        if (m) addrs[m[1]] = m[2];
        if (line === 'ready') resolve();
      }
    });
    proc.on('exit', (code) => reject(new Error(`${label} exited (${code}) before ready: ${err}`)));
    proc.on('error', reject);
  });
  return withTimeout(ready, WAIT, label + ' ready').then(() => ({ proc, addrs, stderr: () => err }));
}

async function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  try { await withTimeout(gone, 5000, 'stop'); } catch { proc.kill('SIGKILL'); await gone; }
}

// One snak (and, in bridge mode, the dev bridge in front of it). restart() stops snak by its
// PID and starts it again on the same ports.
class Server {
  static async start(extra = []) { const s = new Server(); s.extra = extra; await s.startSnak({}); return s; }
  async startSnak(ports) {
    const argv = ['--listen', ports.native || '127.0.0.1:0', '--irc-listen', ports.irc || '127.0.0.1:0', ...this.extra];
    if (!BRIDGE) argv.push('--web-listen', ports.web || '127.0.0.1:0', '--data-dir', 'none');
    this.snak = await launch(SNAK, argv, 'snak');
    const a = this.snak.addrs;
    if (!a.native || !a.irc) throw new Error('snak did not print its native and irc addresses');
    this.native = a.native; this.irc = a.irc;
    if (BRIDGE && !this.bridge) {
      const [cmd, ...pre] = BRIDGE.split(' ').filter(Boolean);
      this.bridge = await launch(cmd, [...pre, '--irc', this.irc, '--page', PAGE_FILE, '--files'], 'bridge');
      this.web = this.bridge.addrs.web;
    } else if (!BRIDGE) this.web = a.web;
    if (!this.web) throw new Error('no `listening web ADDR` line');
    this.url = 'http://' + this.web;
  }
  async restart() {
    await stop(this.snak.proc);
    await this.startSnak({ native: this.native, irc: this.irc, web: this.web });
  }
  async close() {
    await stop(this.snak.proc);
    if (this.bridge) await stop(this.bridge.proc);
  }
}

// ------------------------------------------------------------------ line clients (native and IRC)
class LineClient {
  constructor(sock, name) {
    this.sock = sock; this.name = name; this.lines = []; this.waiters = []; this.closed = false;
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        this.lines.push(line);
        if (this.onLine) this.onLine(line);
        this.wake();
      }
    });
    sock.on('close', () => { this.closed = true; this.wake(); });
    sock.on('error', () => {});
  }
  wake() { for (const w of [...this.waiters]) w(); }
  send(line) { this.sock.write(line + '\r\n'); }
  // Resolves with the first line at index >= from that matches.
  waitFor(pred, what, from = 0, timeout = WAIT) {
    return withTimeout(new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < this.lines.length; i++) {
          if (pred(this.lines[i])) { this.waiters = this.waiters.filter((w) => w !== check); resolve(this.lines[i]); return; }
        }
        if (this.closed) { this.waiters = this.waiters.filter((w) => w !== check); reject(new Error(this.name + ' closed waiting for ' + what)); }
      };
      this.waiters.push(check);
      check();
    }), timeout, `${this.name}: ${what}; last lines: ${JSON.stringify(this.lines.slice(-5))}`);
  }
  close() { this.sock.destroy(); }
}
function dial(addr, name) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), +addr.slice(addr.lastIndexOf(':') + 1)];
  return withTimeout(new Promise((resolve, reject) => {
    const sock = net.connect({ host, port }, () => resolve(new LineClient(sock, name)));
    sock.once('error', reject);
  }), WAIT, 'connect ' + name);
}
async function nativeUser(srv, nick) {
  const c = await dial(srv.native, 'native ' + nick);
  await c.waitFor((l) => l.startsWith('* Hello'), 'greeting');
  c.send('/nick ' + nick);
  await c.waitFor((l) => l.endsWith('is now known as ' + nick), 'nick');
  return c;
}
async function ircUser(srv, nick) {
  const c = await dial(srv.irc, 'irc ' + nick);
  c.onLine = (l) => { const m = l.match(/^(?::\S+ )?PING (.*)$/); if (m) c.send('PONG ' + m[1]); };
  c.send('NICK ' + nick);
  c.send('USER ' + nick + ' 0 * :test user');
  await c.waitFor((l) => / 001 /.test(l), '001');
  return c;
}

// ------------------------------------------------------------------ pages
let browser, profile;
const pageErrors = [];
async function openPage(srv, nick, room, viewport = { width: 1200, height: 800 }) {
  const page = await browser.newPage();
  await page.setViewportSize(viewport);
  page.on('pageerror', (e) => pageErrors.push(nick + ': ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(nick + ' console: ' + m.text()); });
  await page.goto(srv.url + '/');
  await page.fill('#nickIn', nick);
  await page.fill('#roomIn', room || '');
  await page.press('#nickIn', 'Enter');
  await page.locator('#conn[data-state=connected]').waitFor({ timeout: WAIT });
  if (room) await member(page, nick).waitFor({ state: 'attached', timeout: WAIT });
  return page;
}
// A page that connects with an account: mode 'login' or 'register' in the connect box.
async function openAuthPage(srv, nick, mode, password, room, page) {
  if (!page) {
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(nick + ': ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(nick + ' console: ' + m.text()); });
    await page.goto(srv.url + '/');
  }
  await page.locator('#login[open]').waitFor({ timeout: WAIT });
  await page.fill('#nickIn', nick);
  await page.fill('#roomIn', room || '');
  await page.check(`input[name=mode][value=${mode}]`);
  await page.fill('#passIn', password);
  await page.press('#passIn', 'Enter');
  return page;
}
const loggedIn = (page, nick, account) => page.locator(`#conn[data-state=connected][data-account="${esc(account)}"]`, { hasText: `Connected as ${nick}, account ${account}` }).waitFor({ timeout: WAIT });
// The account a native user's /whois names for NICK ('' when NICK is on line but logged in to none).
async function whoisAccount(c, nick) {
  const mark = c.lines.length;
  c.send('/whois ' + nick);
  await c.waitFor((l) => l === '= end whois ' + nick, 'whois ' + nick, mark);
  const got = c.lines.slice(mark);
  if (got.includes('! no-such-nick ' + nick)) return null;
  const a = got.find((l) => l.startsWith(`= whois ${nick} account `));
  return a ? a.split(' ')[4] : '';
}
const esc = (s) => s.replace(/["\\]/g, '\\$&');
const line = (page, buf, text) => page.locator(`ol.log[data-name="${esc(buf)}"] > li`, { hasText: text });
const member = (page, nick) => page.locator(`#memberList [data-nick="${esc(nick)}"]`);
async function say(page, text) { await page.fill('#input', text); await page.press('#input', 'Enter'); }
async function see(page, buf, text) { await line(page, buf, text).first().waitFor({ timeout: WAIT }); }
function check(ok, what) { if (!ok) throw new Error('check failed: ' + what); }
const sha = (b) => createHash('sha256').update(b).digest('hex');
async function show(page, name) { await page.locator(`#buffers .buf[data-key="${esc(name)}"]`).click(); }

// Picks a file through the page's own button (its file chooser) in the conversation with `nick`.
async function offerFromPage(page, nick, name, data) {
  await say(page, '/query ' + nick);
  await page.locator('#fileBtn:not([hidden])').waitFor({ timeout: WAIT }).catch(() => {
    throw new Error('the page shows no file button: the server does not offer snak.chat/files');
  });
  const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: WAIT }), page.click('#fileBtn')]);
  await chooser.setFiles({ name, mimeType: 'application/octet-stream', buffer: data });
  return page.locator(`ol.log[data-name="${esc(nick)}"] li.file`, { hasText: name }).last();
}
async function acceptOnPage(page, from, name) {
  await page.locator(`#buffers .buf[data-key="${esc(from)}"] .badge.mention`).waitFor({ timeout: WAIT });
  await show(page, from);
  const card = page.locator(`ol.log[data-name="${esc(from)}"] li.file[data-state=offered]`, { hasText: name }).last();
  await card.waitFor({ timeout: WAIT });
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), card.locator('a.accept').click()]);
  const file = await withTimeout(dl.path(), WAIT * 2, 'download of ' + name);
  check(dl.suggestedFilename() === name, 'download is named ' + name + ', not ' + dl.suggestedFilename());
  const any = page.locator(`ol.log[data-name="${esc(from)}"] li.file`, { hasText: name }).last();
  return { card: any, bytes: readFileSync(file) };
}
const state = (card, s) => card.and(card.page().locator(`li.file[data-state=${s}]`)).waitFor({ timeout: WAIT });

// ------------------------------------------------------------------ scenarios
async function twoPagesChat(srv) {
  const alice = await openPage(srv, 'alice', '#duo');
  const bob = await openPage(srv, 'bob', '#duo', { width: 360, height: 640 });
  await member(alice, 'bob').waitFor({ timeout: WAIT });
  await member(bob, 'alice').waitFor({ state: 'attached', timeout: WAIT });
  check(await member(alice, 'alice').locator('.pfx').textContent() === '@', 'the room creator shows as operator');

  // Markup from a peer stays text; only http(s) URLs become links, opened without an opener.
  await say(alice, 'hello bob <img src=x onerror="window.pwned=1"> <b>bold</b> https://example.org/a?b=1 javascript:alert(1)');
  await see(bob, '#duo', 'hello bob <img src=x');
  const got = line(bob, '#duo', 'hello bob').first();
  check(await got.locator('img, b').count() === 0, 'no element made from peer text');
  check(await bob.evaluate(() => window.pwned === undefined), 'no script ran');
  const links = got.locator('a');
  check(await links.count() === 1, 'exactly one link');
  check(await links.getAttribute('href') === 'https://example.org/a?b=1', 'link target');
  check(await links.getAttribute('rel') === 'noopener noreferrer', 'link rel');
  check(/^\d{4}-\d\d-\d\dT/.test(await got.locator('time').getAttribute('datetime')), 'a timestamp');

  // Keyboard only on the phone-sized page: type and Enter.
  await bob.focus('#input');
  await bob.keyboard.type('hi alice');
  await bob.keyboard.press('Enter');
  await see(alice, '#duo', 'hi alice');
  check(await line(alice, '#duo', 'hi alice').count() === 1, 'one copy');

  // A DM counts as unread where it is not shown; Ctrl+K finds it, the count clears.
  await say(alice, '/msg bob psst');
  await bob.locator('#buffers .buf[data-key="alice"] .badge', { hasText: '1' }).waitFor({ state: 'attached', timeout: WAIT });
  await bob.locator('#navToggle .badge', { hasText: '1' }).waitFor({ timeout: WAIT }); // the phone's folded sidebar
  await bob.keyboard.press('Control+k');
  await bob.keyboard.type('alice');
  await bob.keyboard.press('Enter');
  await bob.locator('#bufTitle', { hasText: 'alice' }).waitFor({ timeout: WAIT });
  await see(bob, 'alice', 'psst');
  check(await bob.locator('#buffers .buf[data-key="alice"] .badge').count() === 0, 'unread cleared');
  await bob.keyboard.press('Alt+ArrowUp');
  await bob.locator('#bufTitle', { hasText: '#duo' }).waitFor({ timeout: WAIT });
  const wide = await bob.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 360, 'no sideways scrolling at 360 px (' + wide + ')');
  const box = await bob.locator('#input').boundingBox();
  check(box && box.y + box.height <= 640 && box.width > 150, 'message box on screen at 360x640');

  // The room directory lists the room with its member count.
  await alice.click('#listBtn');
  await alice.locator('tr', { hasText: '#duo' }).locator('td.num', { hasText: '2' }).waitFor({ timeout: WAIT });

  // IRCv3 tag unescaping in the page's parser.
  const m = await alice.evaluate(() => window.snak.parseLine('@a=b\\:c\\sd\\\\;e;f=x\\ :n!u@h PRIVMSG #r :hi  there'));
  check(m.tags.a === 'b;c d\\' && m.tags.e === '' && m.tags.f === 'x' && m.nick === 'n' && m.params[1] === 'hi  there', 'tag parsing');
  await alice.close(); await bob.close();
}

async function pageNativeIrc(srv) {
  const carol = await openPage(srv, 'carol', '#mix');
  const dave = await nativeUser(srv, 'dave');
  dave.send('/join #mix');
  const erin = await ircUser(srv, 'erin');
  erin.send('JOIN #mix');
  await erin.waitFor((l) => / 366 /.test(l), 'names');
  await member(carol, 'dave').waitFor({ timeout: WAIT });
  await member(carol, 'erin').waitFor({ timeout: WAIT });

  let mark = dave.lines.length, imark = erin.lines.length;
  await say(carol, 'hi from the page');
  await dave.waitFor((l) => l === '#mix <carol> hi from the page', 'page line at native', mark);
  await erin.waitFor((l) => /^:carol!\S+ PRIVMSG #mix :hi from the page$/.test(l), 'page line at irc', imark);
  dave.send('hi from nc');
  await see(carol, '#mix', 'hi from nc');
  check(await line(carol, '#mix', 'hi from nc').locator('.nick').textContent() === 'dave', 'sender shown');
  erin.send('PRIVMSG #mix :hi from irc');
  await see(carol, '#mix', 'hi from irc');
  await dave.waitFor((l) => l === '#mix <erin> hi from irc', 'irc line at native');
  mark = dave.lines.length;
  await say(carol, '/me waves');
  await dave.waitFor((l) => l === '#mix * carol waves', 'action at native', mark);
  await erin.waitFor((l) => l.endsWith('PRIVMSG #mix :\x01ACTION waves\x01'), 'action at irc');
  erin.send('PRIVMSG carol :a private word');
  await carol.locator('#buffers .buf[data-key="erin"] .badge').waitFor({ timeout: WAIT });
  dave.send('/part #mix');
  await member(carol, 'dave').waitFor({ state: 'detached', timeout: WAIT });
  dave.close(); erin.close();
  await carol.close();
}

async function filePageToPage(srv) {
  const gus = await openPage(srv, 'gus');
  const hana = await openPage(srv, 'hana');
  const data = randomBytes(300 * 1024);
  const mine = await offerFromPage(gus, 'hana', 'notes one.bin', data);
  const { card, bytes } = await acceptOnPage(hana, 'gus', 'notes one.bin');
  check(sha(bytes) === sha(data), 'the bytes arrived unchanged');
  await state(mine, 'done');
  await state(card, 'done');
  // A declined offer is told to the sender.
  const second = await offerFromPage(gus, 'hana', 'second.bin', randomBytes(10));
  const offer = hana.locator('ol.log[data-name="gus"] li.file[data-state=offered]', { hasText: 'second.bin' });
  await offer.locator('button.decline').click();
  await state(second, 'declined');
  await gus.close(); await hana.close();
}

async function fileNativeToPage(srv) {
  const jan = await openPage(srv, 'jan');
  const ivan = await nativeUser(srv, 'ivan');
  const data = randomBytes(200 * 1024 + 17);
  ivan.send(`/offer jan ${data.length} report.bin`);
  const offered = await ivan.waitFor((l) => l.startsWith('% offered '), 'offered');
  const id = offered.split(' ')[2];
  const downloading = acceptOnPage(jan, 'ivan', 'report.bin');
  await ivan.waitFor((l) => l === '% accepted ' + id, 'accepted');
  for (let i = 0; i < data.length; i += 65536) {
    const chunk = data.subarray(i, i + 65536);
    ivan.sock.write(`/data ${id} ${chunk.length}\n`);
    ivan.sock.write(chunk);
  }
  const { card, bytes } = await downloading;
  check(sha(bytes) === sha(data), 'the bytes arrived unchanged');
  await ivan.waitFor((l) => l === '% done ' + id, 'done');
  await state(card, 'done');
  ivan.close();
  await jan.close();
}

async function filePageToIrcLink(srv) {
  const kim = await ircUser(srv, 'kim');
  const lea = await openPage(srv, 'lea');
  const data = randomBytes(150 * 1024);
  const mark = kim.lines.length;
  const card = await offerFromPage(lea, 'kim', 'photo.jpg', data);
  const notice = await kim.waitFor((l) => / NOTICE kim :.*https?:\/\/\S+\/f\/\S+/.test(l), 'the link', mark);
  const url = notice.match(/https?:\/\/\S+\/f\/[^\s"')]+/)[0];
  check(/^http:\/\/127\.0\.0\.1:\d+\//.test(url), 'a loopback link: ' + url);
  const res = await withTimeout(fetch(url), WAIT, 'GET ' + url);
  check(res.ok, 'GET ' + url + ' answered ' + res.status);
  const body = Buffer.from(await withTimeout(res.arrayBuffer(), WAIT * 2, 'body'));
  check(sha(body) === sha(data), 'the bytes arrived unchanged');
  await state(card, 'done');
  kim.close();
  await lea.close();
}

async function restart(srv) {
  const mia = await openPage(srv, 'mia', '#keep');
  let nico = await nativeUser(srv, 'nico');
  nico.send('/join #keep');
  await member(mia, 'nico').waitFor({ timeout: WAIT });
  nico.send('before restart');
  await see(mia, '#keep', 'before restart');
  await srv.restart();
  nico.close();
  await mia.locator('#conn[data-sessions="2"][data-state=connected]').waitFor({ timeout: WAIT * 2 });
  await see(mia, '#keep', 'Rejoined #keep');
  await member(mia, 'mia').waitFor({ timeout: WAIT });
  nico = await nativeUser(srv, 'nico');
  nico.send('/join #keep');
  await member(mia, 'nico').waitFor({ timeout: WAIT });
  nico.send('after restart');
  await see(mia, '#keep', 'after restart');
  const mark = nico.lines.length;
  await say(mia, 'page is back');
  await nico.waitFor((l) => l === '#keep <mia> page is back', 'page line after restart', mark);
  check(await line(mia, '#keep', 'before restart').count() === 1, '"before restart" shown once');
  check(await line(mia, '#keep', 'after restart').count() === 1, '"after restart" shown once');
  check(await mia.locator('#buffers .buf[data-key="#keep"] .count', { hasText: '(2)' }).count() === 1, 'member count after rejoin');
  nico.close();
  await mia.close();
}

async function nickTaken(srv) {
  const olga = await nativeUser(srv, 'olga');
  const page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push('page: ' + e.message));
  await page.goto(srv.url + '/');
  await page.fill('#nickIn', 'olga');
  await page.fill('#roomIn', '');
  await page.press('#nickIn', 'Enter');
  await page.locator('#loginMsg', { hasText: 'olga is already in use' }).waitFor({ timeout: WAIT });
  check(await page.inputValue('#nickIn') === 'olga_', 'another nick is offered');
  await page.press('#nickIn', 'Enter');
  await page.locator('#conn[data-state=connected]', { hasText: 'Connected as olga_' }).waitFor({ timeout: WAIT });
  olga.close();
  await page.close();
}

async function commands(srv) {
  const pat = await openPage(srv, 'pat', '#cmd');
  const quinn = await ircUser(srv, 'quinn');
  quinn.send('JOIN #cmd');
  await member(pat, 'quinn').waitFor({ timeout: WAIT });
  let mark = quinn.lines.length;
  await say(pat, '/topic a new topic');
  await pat.locator('#topic', { hasText: 'a new topic' }).waitFor({ timeout: WAIT });
  await quinn.waitFor((l) => l.endsWith('TOPIC #cmd :a new topic'), 'topic', mark);
  await say(pat, '/mode #cmd +v quinn');
  await member(pat, 'quinn').locator('.pfx', { hasText: '+' }).waitFor({ timeout: WAIT });
  await say(pat, '/whois quinn');
  await see(pat, '#cmd', 'quinn is in');
  await say(pat, '/names');
  await see(pat, '#cmd', 'People in #cmd: @pat +quinn');
  await say(pat, '/help');
  await see(pat, '#cmd', '/join #room [key]: join a room');
  await say(pat, '/lusers'); // not a page command: sent as it is
  await pat.locator('ol.log[data-kind=server] > li', { hasText: 'There are' }).nth(1).waitFor({ state: 'attached', timeout: WAIT });
  await say(pat, '/away lunch');
  await pat.locator('#conn', { hasText: '(away)' }).waitFor({ timeout: WAIT });
  await say(pat, '/back');
  await pat.locator('#conn', { hasText: 'Connected as pat' }).and(pat.locator(':not(:has-text("away"))')).waitFor({ timeout: WAIT });
  mark = quinn.lines.length;
  await say(pat, '/nick pat2');
  await pat.locator('#conn', { hasText: 'Connected as pat2' }).waitFor({ timeout: WAIT });
  await quinn.waitFor((l) => /^:pat!\S+ NICK :?pat2$/.test(l), 'nick change', mark);
  await say(pat, '/part #cmd bye now');
  await see(pat, '#cmd', 'You left #cmd');
  await quinn.waitFor((l) => /^:pat2!\S+ PART #cmd :bye now$/.test(l), 'part', mark);
  await say(pat, '/msg quinn hey there');
  await quinn.waitFor((l) => l.endsWith('PRIVMSG quinn :hey there'), 'dm', mark);
  quinn.send('NOTICE pat2 :a notice for you');
  await pat.locator('ol.log[data-name="quinn"] > li.notice', { hasText: 'a notice for you' }).waitFor({ timeout: WAIT });
  quinn.send('PRIVMSG pat2 :\x01ACTION nods\x01');
  await see(pat, 'quinn', '* quinn nods');
  await say(pat, '/quit see you');
  await pat.locator('#conn[data-state=offline]').waitFor({ timeout: WAIT });
  mark = quinn.lines.length;
  quinn.send('ISON pat2');
  await quinn.waitFor((l) => / 303 quinn :?$/.test(l), 'pat2 gone', mark);
  await pat.locator('#reconnectNow', { hasText: 'Connect' }).waitFor({ timeout: WAIT });
  quinn.close();
  await pat.close();
}

async function account(srv) {
  const pass = 'correct horse 7';
  // Register: the page makes its nick an account before it finishes connecting.
  const ada = await openAuthPage(srv, 'ada', 'register', pass, '#acct');
  await loggedIn(ada, 'ada', 'ada');
  await line(ada, 'server', 'Registered account ada').first().waitFor({ state: 'attached', timeout: WAIT });
  const wren = await nativeUser(srv, 'wren');
  wren.send('/join #acct');
  await member(ada, 'wren').waitFor({ timeout: WAIT });
  check(await whoisAccount(wren, 'ada') === 'ada', 'the server has ada logged in to the account ada');

  // While the owner is on line the nick is simply in use, for IRC and native users alike.
  const ivo = await ircUser(srv, 'ivo');
  let mark = ivo.lines.length;
  ivo.send('NICK ada');
  await ivo.waitFor((l) => / 433 ivo ada :/.test(l), '433 for ada', mark);
  mark = wren.lines.length;
  wren.send('/nick ada');
  await wren.waitFor((l) => l === '! nick-taken ada is already in use', 'nick-taken', mark);

  // The owner leaves; an IRC user who takes the nick is told, then renamed (--nick-grace 2).
  mark = wren.lines.length;
  await ada.close();
  await wren.waitFor((l) => /^\* ada quit/.test(l), 'ada quit', mark);
  mark = ivo.lines.length;
  ivo.send('NICK ada');
  await ivo.waitFor((l) => /^:NickServ!\S+ NOTICE ada :ada is registered to the account ada/.test(l), 'told of the account', mark);
  await ivo.waitFor((l) => /^:ada!\S+ NICK :?guest-\d+$/.test(l), 'renamed to a guest nick', mark);

  // Log in on a second page with the password: SASL, shown logged in, back in the room.
  const ada2 = await openAuthPage(srv, 'ada', 'login', pass, '#acct');
  await loggedIn(ada2, 'ada', 'ada');
  await member(ada2, 'wren').waitFor({ timeout: WAIT });
  check(await whoisAccount(wren, 'ada') === 'ada', 'the second page is logged in to ada');
  mark = wren.lines.length;
  await ada2.close();
  await wren.waitFor((l) => /^\* ada quit/.test(l), 'ada quit again', mark);

  // A wrong password: the connect box says so, and the page is not connected at all.
  mark = wren.lines.length;
  const bad = await openAuthPage(srv, 'ada', 'login', 'not the password', '#acct');
  await bad.locator('#loginMsg', { hasText: 'Log in failed: wrong nick or password' }).waitFor({ timeout: WAIT });
  await bad.locator('#login[open]').waitFor({ timeout: WAIT });
  await bad.locator('#conn[data-state=offline]').waitFor({ timeout: WAIT });
  check(await bad.locator('#conn').getAttribute('data-account') === '', 'no account shown');
  check(await whoisAccount(wren, 'ada') === null, 'nobody is on line as ada');
  check(!wren.lines.slice(mark).some((l) => /^\* ada joined/.test(l)), 'the failed page never joined as ada');
  check(await bad.locator('input[name=mode][value=login]').isChecked(), 'still in log-in mode to try again');
  // Registering a nick that is an account already is refused in the box as well.
  await openAuthPage(srv, 'ada', 'register', 'another password', '#acct', bad);
  await bad.locator('#loginMsg', { hasText: 'Could not register ada: That account exists already' }).waitFor({ timeout: WAIT });
  await bad.locator('#conn[data-state=offline]').waitFor({ timeout: WAIT });
  check(await whoisAccount(wren, 'ada') === null, 'still nobody on line as ada');
  // The same box, the right password: logged in.
  await openAuthPage(srv, 'ada', 'login', pass, '#acct', bad);
  await loggedIn(bad, 'ada', 'ada');
  await wren.waitFor((l) => l === '* ada joined #acct', 'ada joined after retry', mark);
  ivo.close(); wren.close();
  await bad.close();
}

// Logging in to an account whose nick someone else holds: the page connects under another
// nick, logs in, and takes its nick back (the holder is renamed).
async function accountNickHeld(srv) {
  const owner = await nativeUser(srv, 'sol');
  let mark = owner.lines.length;
  owner.send('/register sunny-days-9');
  await owner.waitFor((l) => l === '= registered sol', 'registered', mark);
  // Once the server has closed the owner's connection after /quit, the nick is free.
  const gone = new Promise((r) => owner.sock.once('close', r));
  owner.send('/quit');
  await withTimeout(gone, WAIT, 'sol quits');
  const squat = await ircUser(srv, 'tam');
  mark = squat.lines.length;
  squat.send('NICK sol');
  await squat.waitFor((l) => /^:tam!\S+ NICK :?sol$/.test(l), 'tam takes sol', mark);
  await squat.waitFor((l) => /NOTICE sol :sol is registered to the account sol/.test(l), 'tam is told', mark);
  mark = squat.lines.length;
  const page = await openAuthPage(srv, 'sol', 'login', 'sunny-days-9', '');
  await loggedIn(page, 'sol', 'sol');
  await squat.waitFor((l) => /NOTICE sol :sol was taken back by sol_ \(GHOST\)/.test(l), 'told of the GHOST', mark);
  await squat.waitFor((l) => /^:sol!\S+ NICK :?guest-\d+$/.test(l), 'tam renamed', mark);
  squat.close();
  await page.close();
}

// Lines in a room's log, in order: [text, is marked as history].
const logLines = (page, buf) => page.locator(`ol.log[data-name="${esc(buf)}"] > li.msg`).evaluateAll((lis) => lis.map((li) => [li.querySelector('.text').textContent, li.classList.contains('history')]));
async function history(srv) {
  const hal = await nativeUser(srv, 'hal');
  hal.send('/join #hist');
  await hal.waitFor((l) => l === '* hal joined #hist', 'joined');
  const earlier = ['earlier one', 'earlier two', 'earlier three'];
  for (const t of earlier) hal.send(t);
  let mark = hal.lines.length;
  hal.send('/history #hist');
  await hal.waitFor((l) => l === '= end history #hist 3', 'the three lines are kept', mark);

  // A page that joins afterwards shows them, in order, marked as earlier, before its join line.
  const pia = await openPage(srv, 'pia', '#hist');
  await see(pia, '#hist', 'earlier three');
  let got = await logLines(pia, '#hist');
  check(JSON.stringify(got) === JSON.stringify(earlier.map((t) => [t, true])), 'history on join, in order, marked: ' + JSON.stringify(got));
  const joinedAt = await pia.locator('ol.log[data-name="#hist"] > li').evaluateAll((lis) => lis.findIndex((li) => li.textContent.includes('You joined #hist')));
  check(joinedAt === 3, 'the history comes before "You joined" (at ' + joinedAt + ')');
  hal.send('live four');
  await see(pia, '#hist', 'live four');

  // Away and back in the same page: only what was missed is added, nothing twice.
  mark = hal.lines.length;
  await say(pia, '/quit brb');
  await pia.locator('#conn[data-state=offline]').waitFor({ timeout: WAIT });
  await hal.waitFor((l) => /^\* pia quit/.test(l), 'pia quit', mark);
  hal.send('while away');
  await pia.click('#reconnectNow');
  await pia.locator('#login[open]').waitFor({ timeout: WAIT });
  await pia.fill('#roomIn', '#hist');
  await pia.press('#nickIn', 'Enter');
  await pia.locator('#conn[data-state=connected][data-sessions="2"]').waitFor({ timeout: WAIT });
  await see(pia, '#hist', 'while away');
  const all = [...earlier, 'live four', 'while away'];
  got = await logLines(pia, '#hist');
  check(JSON.stringify(got.map(([t]) => t)) === JSON.stringify(all), 'after coming back, each line once, in order: ' + JSON.stringify(got));
  check(got[4][1] === true && got[3][1] === false, 'the missed line is marked earlier, the live one not');

  // After a reload the page shows the room's history again, each line once.
  await pia.reload();
  await pia.locator('#login[open]').waitFor({ timeout: WAIT });
  await pia.fill('#nickIn', 'pia');
  await pia.fill('#roomIn', '#hist');
  await pia.press('#nickIn', 'Enter');
  await pia.locator('#conn[data-state=connected]').waitFor({ timeout: WAIT });
  await see(pia, '#hist', 'while away');
  got = await logLines(pia, '#hist');
  check(JSON.stringify(got) === JSON.stringify(all.map((t) => [t, true])), 'history after reload, each once, in order, marked: ' + JSON.stringify(got));
  const nick = await line(pia, '#hist', 'earlier one').locator('.nick').textContent();
  check(nick === 'hal', 'the sender of a history line is shown (' + nick + ')');
  hal.close();
  await pia.close();
}

const SCENARIOS = [
  ['two-pages-chat', twoPagesChat],
  ['page-native-irc-room', pageNativeIrc],
  ['file-page-to-page', filePageToPage],
  ['file-native-to-page', fileNativeToPage, 'the dev bridge cannot carry a native offer to a page (snak refuses offers to IRC users)'],
  ['file-page-to-irc-link', filePageToIrcLink],
  ['restart-reconnect', restart],
  ['nick-taken', nickTaken],
  ['commands', commands],
  ['account', account, 'the dev bridge has no accounts of its own', ['--nick-grace', '2']],
  ['account-nick-held', accountNickHeld, 'the dev bridge has no accounts of its own'],
  ['history', history],
];

// ------------------------------------------------------------------ main
async function main() {
  if (!existsSync(CHROMIUM)) skipSuite(`no chromium at ${CHROMIUM} (${INSTALL})`);
  if (!existsSync(SNAK)) skipSuite(`no snak binary at ${SNAK} (cargo build)`);
  let help = '';
  try { help = execFileSync(SNAK, ['--help'], { encoding: 'utf8' }); } catch (e) { help = String(e.stdout || ''); }
  if (!help.includes('--web-listen') && !BRIDGE) skipSuite('snak has no --web-listen yet (`snak --help`), so it serves no page');
  const only = process.argv.slice(2);
  profile = mkdtempSync(path.join(os.tmpdir(), 'snak-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  browser = context;
  const r = { ran: 0, passed: 0, failed: 0, skipped: 0, skips: [], fails: [] };
  for (const [id, fn, bridgeSkip, args] of SCENARIOS) {
    if (only.length && !only.includes(id)) continue;
    r.ran++;
    if (BRIDGE && bridgeSkip) { r.skipped++; r.skips.push([id, bridgeSkip]); console.log(`skip ${id}: ${bridgeSkip}`); continue; }
    const t0 = Date.now();
    pageErrors.length = 0;
    let srv;
    try {
      srv = await Server.start(args);
      await withTimeout(fn(srv), SCENARIO_TIMEOUT, id);
      check(pageErrors.length === 0, 'errors in the page: ' + pageErrors.join('; '));
      r.passed++;
      console.log(`ok ${id} (${Date.now() - t0} ms)`);
    } catch (e) {
      r.failed++; r.fails.push(id);
      console.log(`FAIL ${id}: ${e.stack || e}`);
      if (srv && srv.snak) console.log('  snak stderr: ' + srv.snak.stderr().split('\n').slice(-10).join('\n  '));
    } finally {
      for (const p of context.pages()) await p.close().catch(() => {});
      if (srv) await srv.close().catch(() => {});
    }
  }
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  writeResult(r);
  process.exitCode = r.failed ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  writeResult({ ran: 1, passed: 0, failed: 1, skipped: 0, skips: [], fails: ['browser-runner'] });
  process.exit(1);
});
