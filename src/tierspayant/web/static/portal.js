// The portal's only script (served from this origin: the Content-Security-Policy allows no
// inline script). Passkey ceremonies with the WebAuthn Level 3 JSON forms
// (PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON, toJSON()),
// the idle sign-out after 15 minutes with a warning 2 minutes before, and the presence proof
// read from the QR code where the browser has BarcodeDetector.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function post(url, body) {
  const answer = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify(body || {}),
  });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(data.error || "refused");
  return data;
}

function show(id, visible) {
  const element = document.getElementById(id);
  if (element) element.hidden = !visible;
}

async function signInWithPasskey(button) {
  show("connexion-cle-erreur", false);
  try {
    const options = await post(button.dataset.options);
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({ publicKey });
    const done = await post(button.dataset.finish, { credential: credential.toJSON() });
    window.location.assign(done.next);
  } catch (error) {
    show("connexion-cle-erreur", true);
  }
}

async function enrolPasskey(form) {
  show("enrolement-erreur", false);
  const code = form.elements.enrolment_code.value.trim();
  try {
    const options = await post(form.dataset.options, { enrolment_code: code });
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const credential = await navigator.credentials.create({ publicKey });
    await post(form.dataset.finish, { enrolment_code: code, credential: credential.toJSON() });
    form.hidden = true;
    show("enrolement-fait", true);
  } catch (error) {
    show("enrolement-erreur", true);
  }
}

// A new IBAN, confirmed by a fresh passkey assertion (step-up, docs/THREATS.md T7).
async function changeBankDetails(form) {
  const failed = document.getElementById("changement-iban-erreur");
  failed.hidden = true;
  try {
    const options = await post(form.dataset.options);
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({ publicKey });
    const done = await post(form.dataset.finish, {
      iban: form.elements.iban.value.trim(), bic: form.elements.bic.value.trim(), credential: credential.toJSON(),
    });
    // The session (and its CSRF token) was renewed at the step-up: the page is read again,
    // the request in its list with the date it takes effect.
    window.location.assign(done.next);
  } catch (error) {
    failed.textContent = error.message === "refused" ? "Demande refusée." : error.message;
    failed.hidden = false;
  }
}

// The typed presence proof (security/typed_codes.py): its check character is verified here,
// before sending, so that a typo is shown at once: 159 characters of Crockford's base32 (99
// bytes and 3 padding bits), then the value mod 37 as one of the check symbols.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK_SYMBOLS = ALPHABET + "*~$=U";
function typedProofLooksRight(raw) {
  const text = raw.toUpperCase().replace(/[\s-]/g, "").replace(/[IL]/g, "1").replace(/O/g, "0");
  if (text.length !== 160) return false;
  let value = 0n;
  for (const c of text.slice(0, -1)) {
    const digit = ALPHABET.indexOf(c);
    if (digit < 0) return false;
    value = (value << 5n) | BigInt(digit);
  }
  return CHECK_SYMBOLS.indexOf(text.slice(-1)) === Number((value >> 3n) % 37n);
}

function checkTypedProof(form) {
  const field = form.elements.presence_proof;
  if (!field) return;
  form.addEventListener("submit", (event) => {
    const value = field.value.trim();
    const typed = value !== "" && !value.startsWith("TPP1.");
    field.setCustomValidity(typed && !typedProofLooksRight(value)
      ? "Code de présence mal saisi : vérifiez les caractères (le dernier est un caractère de contrôle)." : "");
    if (!field.reportValidity()) event.preventDefault();
  });
  field.addEventListener("input", () => field.setCustomValidity(""));
}

// Idle sign-out (docs/THREATS.md, "The portal"): the server ends an idle session after 15
// minutes in any case; the page warns 2 minutes before ("Rester connecté" asks the server
// again) and then signs out itself.
function idleTimer(body) {
  const minutes = Number(body.dataset.idleMinutes);
  if (!minutes) return;
  const warnAfter = (minutes - 2) * 60 * 1000;
  const endAfter = minutes * 60 * 1000;
  let warn, end;
  const signOut = () => {
    const form = document.createElement("form");
    form.method = "post";
    form.action = body.dataset.signOut;
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf";
    token.value = csrf();
    form.appendChild(token);
    document.body.appendChild(form);
    form.submit();
  };
  const restart = () => {
    clearTimeout(warn);
    clearTimeout(end);
    show("inactivite", false);
    warn = setTimeout(() => show("inactivite", true), warnAfter);
    end = setTimeout(signOut, endAfter);
  };
  // Only a request to the server keeps the session alive (it counts the idle time too):
  // typing alone does not, so the page's clock and the server's agree.
  const stay = document.getElementById("inactivite-rester");
  if (stay) stay.addEventListener("click", () => { fetch(window.location.pathname, { credentials: "same-origin" }); restart(); });
  restart();
}

// The presence proof from the insurer app's QR code, where the browser can read one.
async function scanner(button) {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const video = document.getElementById("camera");
    const field = document.getElementById("presence_proof");
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      const detector = new BarcodeDetector({ formats: ["qr_code"] });
      const tick = async () => {
        const found = await detector.detect(video).catch(() => []);
        if (found.length) {
          field.value = found[0].rawValue;
          stream.getTracks().forEach((track) => track.stop());
          video.hidden = true;
          field.focus();
        } else {
          requestAnimationFrame(tick);
        }
      };
      tick();
    } catch (error) {
      field.focus();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const signIn = document.getElementById("connexion-cle");
  if (signIn) signIn.addEventListener("click", () => signInWithPasskey(signIn));
  const enrol = document.getElementById("enrolement");
  if (enrol) enrol.addEventListener("submit", (event) => { event.preventDefault(); enrolPasskey(enrol); });
  const iban = document.getElementById("changement-iban");
  if (iban) iban.addEventListener("submit", (event) => { event.preventDefault(); changeBankDetails(iban); });
  const counter = document.querySelector('form[action$="/comptoir"]');
  if (counter) checkTypedProof(counter);
  const scan = document.getElementById("scanner");
  if (scan) scanner(scan);
  const result = document.getElementById("resultat");
  if (result) result.focus();
  idleTimer(document.body);
  // After Pro Santé Connect: move on as this origin's own navigation (web/routes/sign_in.py).
  const next = document.getElementById("suite");
  if (next && next.dataset.next) window.location.replace(next.dataset.next);
});
