/**
 * The operator console's markup: one page, sections one under the other (no tabs), every field with a visible
 * label and every button with a name. The style and script are put in by `consolePage` (routes/console.ts), which
 * also hashes them for the Content-Security-Policy. Nothing secret is in it: the data comes from the admin API,
 * with the token the operator signs in with.
 */
export const MARKUP = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ollama-edge console</title>
<link rel="icon" href="data:,">
<style>%STYLE%</style>
</head>
<body>
<header class="top">
<h1>ollama-edge console</h1>
<p id="updated" class="muted"></p>
<button type="button" id="signout" class="quiet" hidden>Sign out</button>
</header>
<main>
<noscript><p class="error">The console needs JavaScript.</p></noscript>
<section id="signin" aria-labelledby="signin-h">
<h2 id="signin-h">Sign in</h2>
<p>Paste the gateway's <code>ADMIN_TOKEN</code>. It is kept in this browser tab only (session storage) and sent only to this gateway.</p>
<form id="signin-form" class="row">
<div class="field grow"><label for="token">Admin token</label><input id="token" type="password" autocomplete="off" spellcheck="false" required></div>
<button type="submit">Sign in</button>
</form>
<p id="signin-error" class="error" role="alert"></p>
</section>
<div id="dash" hidden>
<p id="alert" class="error banner" role="alert" hidden></p>
<section aria-labelledby="backends-h">
<h2 id="backends-h" tabindex="-1">Backends</h2>
<p id="overall"></p>
<div id="backends" class="cards"></div>
</section>
<section aria-labelledby="keys-h">
<h2 id="keys-h" tabindex="-1">Keys</h2>
<form id="create-form">
<fieldset>
<legend>Create a key</legend>
<div class="field"><label for="k-name">Name</label><input id="k-name" required maxlength="100" autocomplete="off"></div>
<div class="field"><label for="k-rpm">Requests per minute</label><input id="k-rpm" type="number" min="1" step="1" inputmode="numeric" placeholder="default"></div>
<div class="field"><label for="k-tpm">Tokens per minute</label><input id="k-tpm" type="number" min="1" step="1" inputmode="numeric" placeholder="default"></div>
<div class="field"><label for="k-conc">Concurrent requests</label><input id="k-conc" type="number" min="1" step="1" inputmode="numeric" placeholder="default"></div>
<div class="field"><label for="k-models">Models</label><input id="k-models" list="model-names" autocomplete="off" aria-describedby="k-models-hint"><small id="k-models-hint" class="muted">Comma-separated; empty allows every model.</small></div>
<div class="field"><label for="k-exp">Expires</label><input id="k-exp" type="datetime-local" aria-describedby="k-exp-hint"><small id="k-exp-hint" class="muted">Your local time; empty: never.</small></div>
<div class="field end"><button type="submit">Create key</button></div>
</fieldset>
</form>
<datalist id="model-names"></datalist>
<p id="create-error" class="error" role="alert"></p>
<div id="secret" class="card secret" hidden>
<p><strong>Key created for <span id="secret-name"></span>.</strong> Copy it now: it is shown only this once.</p>
<div class="row"><div class="field grow"><label for="secret-value">New API key</label><input id="secret-value" readonly spellcheck="false"></div><button type="button" id="copy">Copy key</button></div>
<p id="copy-status" role="status"></p>
<button type="button" id="secret-done" class="quiet">Done: hide the key</button>
</div>
<p id="keys-status" role="status"></p>
<div id="keys" class="cards"></div>
</section>
<section aria-labelledby="usage-h">
<h2 id="usage-h">Usage</h2>
<div class="row">
<div class="field"><label for="u-key">Key</label><select id="u-key"><option value="">All keys</option></select></div>
<div class="field"><label for="u-range">Period</label><select id="u-range"><option value="24h">Last 24 hours, by hour</option><option value="7d">Last 7 days, by hour</option><option value="30d">Last 30 days, by day</option><option value="90d">Last 90 days, by day</option></select></div>
<button type="button" id="refresh" class="quiet">Refresh now</button>
</div>
<figure><figcaption>Requests, UTC: <span class="sw ok"></span> answered <span class="sw err"></span> errors</figcaption><svg id="chart-requests" role="img"></svg></figure>
<figure><figcaption>Tokens, UTC: <span class="sw p"></span> prompt <span class="sw c"></span> completion</figcaption><svg id="chart-tokens" role="img"></svg></figure>
<div class="scroll"><table id="totals"><caption>Totals for the period</caption><thead><tr><th scope="col">Key</th><th scope="col">Requests</th><th scope="col">Prompt tokens</th><th scope="col">Completion tokens</th><th scope="col">Errors</th></tr></thead><tbody></tbody><tfoot></tfoot></table></div>
</section>
</div>
</main>
<dialog id="confirm" aria-labelledby="confirm-h" aria-describedby="confirm-text">
<h2 id="confirm-h">Revoke this key?</h2>
<p id="confirm-text"></p>
<p id="confirm-error" class="error" role="alert"></p>
<div class="row"><button type="button" id="confirm-cancel" class="quiet" autofocus>Cancel</button><button type="button" id="confirm-ok" class="danger">Revoke key</button></div>
</dialog>
<script>%SCRIPT%</script>
</body>
</html>
`;
