/**
 * A recipe's settings form: its parameter values, which connection fills each slot and,
 * for a poll trigger, where it starts; with Save, Test (its connections, then a test run that
 * sends nothing), Start/Stop and Run now. The settings live in the store, never in the notebook.
 *
 * Others change a recipe too (another tab, the CLI, the scheduler's user): re-shown, the panel
 * shows what changed meanwhile. A Save sends the revision of the settings the panel shows:
 * saved elsewhere since, the API refuses it (409) rather than write the panel's values over
 * them, and the panel shows the recipe as it is now, with what changed there named and
 * what the user changed in the panel kept (as the notebook's form does). A Start, Stop or
 * Run now first checks that the revision is still the one shown, the same way.
 */
import { buildIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { api, ApiError, Connection, Permission, Problem, RecipeDetail } from './api';
import { StudioContext } from './context';
import { announced, button, el, errorBox, FieldError, fill, localZone, markField, markWarned, momentInput, okBox, readMoment, runNow, statusBadge } from './dom';
import { asked, FixContext, jobErrorFix, labError, labFix, labText, withLabFix } from './fixes';
import { SchemaForm } from './form';

/** What the user changed in the panel, kept when it is shown again as the recipe is now. */
interface Kept {
  /** parameters given another value, and those emptied (the notebook's default again) */
  parameters: Record<string, unknown>;
  /** those of them that are text typed for a parameter with no type, for the server to read */
  parsed: string[];
  cleared: string[];
  /** slots the user chose for ('' is the automatic choice) */
  slots: Record<string, string>;
  since?: string;
  contacts: { webhook?: string; email?: string };
  /** a callable's call timeout as typed */
  callTimeout?: string;
}

/** The connections chosen for a recipe's slots: not those the automatic choice fills. */
function chosenOf(d: RecipeDetail): Record<string, string> {
  return Object.fromEntries(Object.entries(d.settings.connections ?? {}).filter(([slot]) => !(d.automatic ?? []).includes(slot)));
}

/** What differs between two versions of a recipe's settings, by the names the panel shows
 * (as the notebook's form names them): its parameters, `connections.SLOT`, since, notify,
 * call_timeout. */
function changes(before: RecipeDetail, after: RecipeDetail): string[] {
  const differ = (a: unknown, b: unknown): boolean => JSON.stringify(a) !== JSON.stringify(b);
  const names: string[] = [];
  for (const [prefix, old, now] of [
    ['', before.settings.parameters ?? {}, after.settings.parameters ?? {}],
    ['connections.', chosenOf(before), chosenOf(after)]
  ] as const) {
    const keys = [...new Set([...Object.keys(old), ...Object.keys(now)])].sort();
    names.push(...keys.filter(k => differ((old as Record<string, unknown>)[k], (now as Record<string, unknown>)[k])).map(k => prefix + k));
  }
  for (const key of ['notify', 'since', 'call_timeout', 'state'] as const) {
    const [a, b] = key === 'state' ? [before.state, after.state] : [before.settings[key], after.settings[key]];
    if (differ(a ?? null, b ?? null)) {
      names.push(key);
    }
  }
  return names;
}

/** A Start's refusal of the since it moves the poll to (the API names it `reset_since`), in
 * the panel's terms: about its Since field, as a Save's refusal of a since is. */
function asSince(err: unknown): unknown {
  return err instanceof ApiError && err.field === 'reset_since'
    ? new ApiError(err.status, err.code, err.message.replace(/^reset_since\b/, 'since'), 'since', err.fix)
    : err;
}

/**
 * A since no reading of the API's takes, refused as the API refuses it (`times.parse_moment`):
 * neither a duration (`2h`) nor a date, every form of which begins with its year, nor a local
 * date and time `readMoment` finds no day of the calendar for (2026-02-30). Fixed, the poll's
 * since is not sent by a Save, only by the next Start: refused then, the Save would have said
 * it was kept for that Start. Other text beginning with a year is left for the API to read.
 */
function unreadableSince(text: string): FieldError | null {
  const typed = text.trim();
  const local = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$/.test(typed);
  const readable = /^\p{Nd}+\s*[smhd]$/u.test(typed) || (/^\d{4}/.test(typed) && !(local && readMoment(typed) === typed));
  return readable
    ? null
    : new FieldError(
        `since '${typed}' is neither a date nor a duration`,
        'since',
        'give an ISO date such as 2026-11-01 or a duration such as 2h or 7d'
      );
}

/** Why a pick list could not be loaded, with the fix in the lab's terms (as the notebook's
 * form says it): which connection could not list what; the API's fix for a failure of the
 * app names its REST route (said in the lab's terms, `labText`), and a Refresh of the panel
 * loads the list again. A test in the Connections panel is asked of a role that may build
 * where the user's may not (`asked`), as the API asks its own fixes. */
function listFailure(err: unknown, connection: string, list: string, can: Record<Permission, boolean>): ApiError {
  const known = err instanceof ApiError ? err : null;
  const said = err instanceof Error ? err.message : String(err);
  const which = `connection ${connection} could not list ${list}`;
  const fix =
    known?.fix && !known.fix.includes(' with POST ')
      ? labText(known.fix)
      : asked(`test ${connection} in the Connections panel (and correct its fields there if the test fails)`, 'build', can);
  return new ApiError(
    known?.status ?? 0,
    known?.code ?? 'Error',
    said.startsWith(which) ? said : `${which}: ${said}`,
    'connection',
    `${fix}, then click Refresh`
  );
}

export class SettingsPanel extends Widget {
  constructor(
    private ctx: StudioContext,
    readonly recipe: string,
    private openJobs: (recipe?: string) => void
  ) {
    super();
    this.id = `lpstudio-settings-${recipe.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    this.title.label = `Settings: ${recipe.split('/').pop()}`;
    this.title.icon = buildIcon; // a collapsed tab (200% zoom) shows it, not a blank
    this.title.caption = recipe;
    this.title.closable = true;
    this.addClass('lps-panel');
    this.addClass('lps-settings');
    this.node.append(this.body);
    void this.load();
  }

  /** Shows the recipe as it is now, with `note` (why it was shown again) in its message, or
   * the note `note(shown, now)` gives; with what the user changed, if `keep` is given. */
  async load(note?: HTMLElement | ((shown: RecipeDetail | null, now: RecipeDetail) => HTMLElement), keep?: Kept): Promise<void> {
    try {
      const [detail, connections] = await Promise.all([api.recipe(this.recipe), api.connections()]);
      const shown = this.shown;
      this.failed = false;
      const warned = this.render(detail, connections, keep);
      fill(this.message, typeof note === 'function' ? note(shown, detail) : note, ...warned);
    } catch (err) {
      // The recipe cannot be shown (its notebook broken meanwhile, say): once mended, its
      // Refresh (or showing the tab again) shows it; without one the tab stayed on the error.
      this.shown = null;
      this.failed = true;
      // Its fix in the lab's terms: a notebook that no longer loads is mended from Versions,
      // offered as the Recipes sidebar offers it (its row's `restorable`): one never
      // versioned has none to list, and its problem's fix says what mends it.
      const restorable = await this.restorable();
      fill(
        this.body,
        errorBox(labError(err)),
        el(
          'div',
          { cls: 'lps-actions' },
          ...(restorable ? [this.versionsButton()] : []),
          button('Refresh', () => this.load(), 'lps-refresh')
        )
      );
    }
  }

  /**
   * Re-shown (another tab was in front): a change made elsewhere meanwhile is shown. A
   * connection created or tested meanwhile (in the Connections panel, as the form's fix
   * says) is offered, and why the settings cannot run is said again, keeping what was typed.
   */
  protected onAfterShow(): void {
    if (this.failed) {
      void this.load(); // it showed an error: the recipe may be mended since
      return;
    }
    if (this.shown === null) {
      return; // its first load is under way
    }
    Promise.all([this.current(), api.connections()])
      .then(([detail, connections]) => detail && this.showAround(detail, connections))
      .catch(err => fill(this.message, errorBox(err)));
  }

  /**
   * Whether the recipe's settings are still at the revision the panel shows (its state is
   * one of them). If not, it is shown as it is now, saying so, and the action (`refused`,
   * e.g. 'started') is not to be carried out: a Start or Stop would act on a state that is
   * no longer the recipe's. (A Save is checked by the API, against the revision it sends.)
   */
  private async current(refused?: string): Promise<RecipeDetail | null> {
    const detail = await api.recipe(this.recipe);
    if (this.shown && this.shown.revision === detail.revision) {
      return detail;
    }
    const now = `${this.recipe} changed elsewhere since this panel showed it (it is ${detail.state} now)`;
    await this.load(
      refused
        ? el('div', { cls: 'lps-error lps-stale', attrs: { role: 'alert' }, text: `Not ${refused}: ${now}. It is shown as it is now: check it, then try again.` })
        : el('div', { cls: 'lps-hint lps-stale', text: `${now}: shown as it is now.` })
    );
    return null;
  }

  /** Draws the recipe's form; returns what its saved settings will fail at as they stand
   * (`warnedOf`), for the message under it. */
  private render(detail: RecipeDetail, connections: Connection[], keep?: Kept): HTMLElement[] {
    this.shown = detail;
    const can = this.ctx.me.can;
    const readOnly = !can.build;
    /** the connection filling each slot (what a job uses): chosen, else the automatic one */
    const bound = detail.settings.connections ?? {};
    /** the connection the automatic choice fills a slot with, which the slot names */
    const automaticOf = (d: RecipeDetail, slot: string): string | undefined =>
      (d.automatic ?? []).includes(slot) ? d.settings.connections?.[slot] : undefined;
    const slots = new Map<string, HTMLSelectElement>();
    /** The fix for what is wrong, in the lab's terms (this form, the Connections panel), as
     * the settings problem shows it: above the fields. */
    const fixes: FixContext = {
      slots: detail.connections ?? {},
      parameters: detail.parameters ?? {},
      connections,
      chosen: slot => slots.get(slot)?.value || bound[slot],
      form: 'below',
      can
    };
    /** A slot's choices: the automatic one (empty: the API picks the connection named like
     * the slot, else the only one of its type; named when it fills the slot now), then the
     * connections of its type, keeping the one chosen. */
    const offer = (select: HTMLSelectElement, type: string, value: string, automatic?: string): void => {
      fill(
        select,
        el('option', { text: automatic ? `(automatic: ${automatic})` : '(automatic)', attrs: { value: '' } }),
        ...fixes.connections
          .filter(c => c.type === type)
          .map(c => el('option', { text: `${c.name} (${c.status})`, attrs: { value: c.name } }))
      );
      select.value = value;
    };
    const slotRows = Object.entries(detail.connections ?? {}).map(([slot, info]) => {
      const select = el('select', { cls: 'lps-input', attrs: { name: `connection-${slot}` } });
      // Kept unless its connection was deleted meanwhile (the slot shows what is saved).
      const wanted = keep?.slots[slot];
      const kept = wanted === '' || connections.some(c => c.name === wanted) ? wanted : undefined;
      offer(select, info.type, kept ?? chosenOf(detail)[slot] ?? '', automaticOf(detail, slot));
      select.disabled = readOnly;
      // Chosen by the user (the automatic choice too): kept when the panel is shown again.
      if (kept !== undefined) {
        select.dataset.chosen = 'yes';
      }
      select.addEventListener('change', () => (select.dataset.chosen = 'yes'));
      slots.set(slot, select);
      return el(
        'label',
        { cls: 'lps-field', attrs: { 'data-field': `connection-${slot}` } },
        el('span', { cls: 'lps-field-label', text: info.label ? `${info.label} (${slot})` : slot }),
        select,
        el('span', {
          cls: 'lps-field-help',
          text: `a ${info.type} connection; automatic: the one named ${slot}, else the only ${info.type} connection`
        })
      );
    });
    /** Each slot's choices offered again from `fixes.connections`, for the recipe as `now`
     * is: the user's choice kept unless its connection was deleted meanwhile (the slot then
     * shows what is saved, as when the panel is shown again after a 409). */
    const offerAgain = (now: RecipeDetail): void => {
      for (const [slot, select] of slots) {
        const mine = !!select.dataset.chosen && (select.value === '' || fixes.connections.some(c => c.name === select.value));
        if (!mine) {
          delete select.dataset.chosen;
        }
        offer(select, detail.connections[slot].type, mine ? select.value : (chosenOf(now)[slot] ?? ''), automaticOf(now, slot));
      }
    };
    const values = { ...(detail.settings.parameters ?? {}), ...keep?.parameters };
    for (const name of keep?.cleared ?? []) {
      delete values[name];
    }
    const form = new SchemaForm(detail.parameters ?? {}, values, {
      readOnly,
      typed: keep?.parsed,
      unset: '(notebook default)',
      picklist: prop => {
        const spec = prop['x-picklist']!;
        const name = slots.get(spec.connection)?.value || bound[spec.connection];
        return name && fixes.connections.some(c => c.name === name)
          ? api.picklist(name, spec.list).catch(err => Promise.reject(listFailure(err, name, spec.list, can)))
          : null;
      }
    });
    /** the parameters the user changed in the form (kept when it is shown again after a 409) */
    const touched = new Set<string>(Object.keys(keep?.parameters ?? {}).concat(keep?.cleared ?? []));
    for (const type of ['input', 'change']) {
      form.node.addEventListener(type, event => {
        const name = (event.target as HTMLElement).closest('[data-field]')?.getAttribute('data-field');
        if (name) {
          touched.add(name);
        }
      });
    }
    // Shown and read in local time, as the lab shows every time (the jobs' starts too).
    const since = el('input', { cls: 'lps-input', attrs: { name: 'since', placeholder: 'e.g. 2h or 2026-01-01 09:00' } });
    // Once fixed, where the poll goes on from (a start saves it too, a poll does not).
    let savedSince = momentInput(detail.since_fixed ?? detail.settings.since);
    let savedNames = Object.keys(detail.settings.parameters ?? {});
    let savedSlots = Object.keys(chosenOf(detail));
    since.value = keep?.since ?? savedSince;
    const isPoll = detail.trigger?.kind === 'poll';
    // Failure contacts: for the jobs nobody waits on (a person's run or a bot's call ends in
    // front of its caller). A saved webhook comes back without its path (it often holds a
    // token): left as shown it is kept, emptied it is cleared, retyped it is replaced.
    const unattended = ['schedule', 'poll', 'webhook'].includes(String(detail.trigger?.kind));
    const savedContacts = { webhook: '', email: '', ...(detail.settings.notify ?? {}) };
    const contacts = {
      webhook: el('input', { cls: 'lps-input', attrs: { name: 'notify.webhook', type: 'url', placeholder: 'https://hooks.example.com/...' } }),
      email: el('input', { cls: 'lps-input', attrs: { name: 'notify.email', type: 'email', placeholder: 'ops@brand.example' } })
    };
    for (const kind of ['webhook', 'email'] as const) {
      contacts[kind].value = keep?.contacts[kind] ?? savedContacts[kind];
      contacts[kind].disabled = readOnly;
    }
    const changedContacts = (): Record<string, string | null> | undefined => {
      const changed: Record<string, string | null> = {};
      for (const kind of ['webhook', 'email'] as const) {
        const value = contacts[kind].value.trim();
        if (value !== savedContacts[kind]) {
          changed[kind] = value || null;
        }
      }
      return Object.keys(changed).length ? changed : undefined;
    };
    // How long a callable's caller waits for its answer: its own, else (empty) the server's,
    // said as the number the server gives (`call_timeout_default`).
    const isCallable = detail.trigger?.kind === 'callable';
    const serverCallTimeout = detail.call_timeout_default != null ? `${detail.call_timeout_default} s, the server's default` : "the server's default";
    let savedCallTimeout = String(detail.settings.call_timeout ?? '');
    const callTimeout = el('input', {
      cls: 'lps-input',
      attrs: { name: 'call_timeout', type: 'number', min: '0', max: '600', step: 'any', placeholder: serverCallTimeout }
    });
    callTimeout.value = keep?.callTimeout ?? savedCallTimeout;
    callTimeout.disabled = readOnly;
    /** The call timeout to send: a number, null to forget the saved one, undefined for none
     * changed; text the browser cannot read as a number (1e) is refused here, by its field. */
    const changedCallTimeout = (): number | null | undefined => {
      const typed = callTimeout.value.trim();
      if (!isCallable || typed === savedCallTimeout) {
        return undefined;
      }
      if (callTimeout.validity.badInput) {
        throw new FieldError('call_timeout must be a number of seconds', 'call_timeout', 'give e.g. 15 (Conversation Builder gives up after 20 s)');
      }
      return typed === '' ? null : Number(typed);
    };
    // Its first start or poll (a Poll now) fixes a poll's since: then it is not saved but
    // given to the next Start, which polls again from there (a Save keeps it in the form till
    // then); while started, it shows where the poll started.
    let fixedSince = isPoll && !!detail.since_fixed;
    since.disabled = readOnly || detail.state === 'started';
    const sinceHelp = el('span', { cls: 'lps-field-help' });
    const explainSince = (): void => {
      sinceHelp.textContent =
        (detail.state === 'started'
          ? 'where the poll started (stop the recipe to move it)'
          : fixedSince
            ? 'where the poll goes on from, fixed by its first start or poll: changed here, the next Start polls again from there'
            : 'where the poll starts when the recipe is first started or polled') +
        `: a duration back from now such as 2h, or a date and time in your local time (${localZone()})`;
    };
    explainSince();
    /** Whether a since the API refused was fixed meanwhile (a Poll now while the form was
     * shown): then it is fixed here too, for the Save to be made again without it. */
    const fixedMeanwhile = async (err: unknown): Promise<boolean> => {
      if (!isPoll || fixedSince || !(err instanceof ApiError) || err.field !== 'since') {
        return false;
      }
      const now = await api.recipe(this.recipe).catch(() => null);
      if (!now?.since_fixed) {
        return false;
      }
      fixedSince = true;
      savedSince = momentInput(now.since_fixed);
      explainSince();
      return true;
    };
    const sinceChanged = (): boolean => !!since.value.trim() && since.value.trim() !== savedSince;
    const message = this.message;
    const problem = el('div', { cls: 'lps-problem lps-settings-problem' });
    /** An error shown with the lab's fix, in the message under the fields and the buttons. */
    const failure = (err: unknown): HTMLElement => errorBox(withLabFix(err, { ...fixes, form: 'above' }));
    /** Why the saved settings cannot run yet, with the fix, and the input it is about. */
    const showProblem = (p: Problem | null): void => {
      const fix = p ? labFix(p.field, p.fix, fixes) : null;
      fill(
        problem,
        p ? el('div', { text: `incomplete: ${p.message}` }) : null,
        fix ? el('div', { cls: 'lps-error-fix', text: `fix: ${fix}` }) : null,
        p?.field?.startsWith('connections.')
          ? button('Open Connections', () => this.ctx.openConnections(), 'lps-open-connections')
          : null
      );
      problem.hidden = !p;
      markField(this.body, p?.field, problem);
    };
    /** What is saved and will fail as it is (a template the handoff's message cannot take,
     * refused by LivePerson for every recipient; a call timeout a Conversation Builder bot
     * gives up on), said with its fix as the CLI warns, each field it is about marked as
     * warned (`markWarned`) and described by it. `role`: alert for a Save's outcome, status
     * where the recipe is shown. */
    const warnedOf = (warnings: Problem[] | undefined, role: 'alert' | 'status'): HTMLElement[] => {
      const said = (warnings ?? []).map(w => {
        const fix = labFix(w.field, w.fix, { ...fixes, form: 'above' });
        const box = el(
          'div',
          { cls: 'lps-warning', attrs: { role } },
          el('div', { text: `warning: ${labText(w.message, 'above')}` }),
          fix ? el('div', { cls: 'lps-error-fix', text: `fix: ${fix}` }) : null
        );
        return [w.field, box] as [string | null, HTMLElement];
      });
      markWarned(this.body, said);
      return said.map(([, box]) => box);
    };

    /** Saves what the form shows; `refused` says what was not done if it changed elsewhere. */
    const save = async (refused = 'saved'): Promise<boolean> => {
      fill(message);
      markField(this.body, null);
      markWarned(this.body, []);
      let parameters: Record<string, unknown>;
      let rounded: string[];
      let sentCallTimeout: number | null | undefined;
      try {
        // A since that will not be sent (fixed: it waits for the next Start) is read here.
        const unread = fixedSince && sinceChanged() ? unreadableSince(since.value) : null;
        if (unread) {
          throw unread;
        }
        sentCallTimeout = changedCallTimeout();
        parameters = form.value();
        // Left out, a whole number saved past what the browser reads exactly stays as saved
        // (a Save joins what it is given to what is saved); sent, it would be saved rounded.
        rounded = form.rounded();
        for (const name of rounded) {
          delete parameters[name];
        }
      } catch (err) {
        // Refused before it is sent (a since no Start could read, not a whole number, not
        // JSON, text the browser cannot read such as 3e): marked as the API's are.
        fill(message, errorBox(err));
        markField(this.body, err instanceof FieldError ? err.field : null, message);
        return false;
      }
      const chosen: Record<string, string> = {};
      for (const [slot, select] of slots) {
        if (select.value) {
          chosen[slot] = select.value;
        }
      }
      try {
        // The revision shown: settings saved elsewhere since are not written over (409).
        const body: Parameters<typeof api.saveSettings>[1] = {
          revision: (this.shown ?? detail).revision,
          parameters,
          connections: chosen,
          notify: unattended ? changedContacts() : undefined,
          call_timeout: sentCallTimeout
        };
        // Text typed for a parameter with no type: read by the server as `-p` reads it.
        const parsed = form.parsed().filter(name => name in parameters);
        if (parsed.length) {
          body.parse = parsed;
        }
        // A saved value whose field was cleared is forgotten: the notebook's default again
        // (leaving it out would keep the saved value); so is the connection of a slot set
        // to automatic.
        const cleared = [
          ...savedNames.filter(name => !(name in parameters) && !rounded.includes(name)),
          ...savedSlots.filter(slot => !chosen[slot]).map(slot => `connections.${slot}`)
        ];
        if (cleared.length) {
          body.reset = cleared;
        }
        // Sent only when changed, and never once fixed: the API refuses a save naming one.
        if (isPoll && !fixedSince && sinceChanged()) {
          body.since = readMoment(since.value);
        }
        const saved = await api.saveSettings(this.recipe, body);
        this.shown = saved;
        showProblem(saved.settings_problem);
        // A since moved once fixed was not sent: kept as typed, for the next Start.
        const moved = fixedSince && sinceChanged() ? since.value.trim() : null;
        savedSince = momentInput(saved.since_fixed ?? saved.settings.since);
        if (moved === null) {
          since.value = savedSince;
        }
        savedNames = Object.keys(saved.settings.parameters ?? {});
        savedCallTimeout = String(saved.settings.call_timeout ?? '');
        callTimeout.value = savedCallTimeout;
        // The values that apply now, as the notebook's form shows them after a save: an
        // emptied field shows the notebook's default again.
        form.show(saved.settings.parameters ?? {});
        // Saved: what is typed or chosen from now on is the user's change; an automatic
        // slot names the connection it picks now.
        touched.clear();
        for (const [slot, select] of slots) {
          delete select.dataset.chosen;
          offer(select, detail.connections[slot].type, select.value, automaticOf(saved, slot));
        }
        savedSlots = Object.keys(chosenOf(saved));
        Object.assign(savedContacts, { webhook: '', email: '', ...(saved.settings.notify ?? {}) });
        for (const kind of ['webhook', 'email'] as const) {
          contacts[kind].value = savedContacts[kind];
        }
        const next = moved === null ? '' : ` Since (${moved}) applies at the next Start, which polls again from there.`;
        // Saved, but what will fail as it is is said with its fix, as the CLI warns.
        fill(message, okBox(`Settings saved.${next}`), ...warnedOf(saved.warnings, 'alert'));
        this.ctx.notifyChanged();
        return true;
      } catch (err) {
        if (await fixedMeanwhile(err)) {
          return save(refused); // the rest saved, the since kept for the next Start
        }
        if (err instanceof ApiError && err.status === 409 && err.field === 'revision') {
          // Saved elsewhere since: shown as it is now, naming what changed there, with what
          // the user changed here kept (as the notebook's form does).
          const kept: Kept = {
            parameters: Object.fromEntries(Object.entries(parameters).filter(([name]) => touched.has(name))),
            parsed: form.parsed().filter(name => touched.has(name)),
            cleared: [...touched].filter(name => !(name in parameters) && !rounded.includes(name)),
            slots: Object.fromEntries([...slots].filter(([, s]) => s.dataset.chosen).map(([slot, s]) => [slot, s.value])),
            since: sinceChanged() ? since.value : undefined,
            callTimeout: callTimeout.value.trim() !== savedCallTimeout ? callTimeout.value : undefined,
            contacts: Object.fromEntries(
              (['webhook', 'email'] as const).filter(k => contacts[k].value.trim() !== savedContacts[k]).map(k => [k, contacts[k].value])
            )
          };
          const not = refused === 'saved' ? null : el('div', { cls: 'lps-error', text: `Not ${refused}.` });
          await this.load((shown, now) => {
            const named = shown ? changes(shown, now) : [];
            const said = new ApiError(
              err.status,
              err.code,
              `${err.message}: ${named.join(', ') || 'nothing this panel shows'} changed`,
              err.field,
              'the panel shows them as they are saved now, with your own changes kept: check them, then click again'
            );
            return el('div', { cls: 'lps-stale' }, not, errorBox(said));
          }, kept);
          return false;
        }
        const slotRefused = err instanceof ApiError && !!err.field?.startsWith('connections.');
        if (slotRefused) {
          // Its connection may have been deleted elsewhere (another tab): the fix is said
          // from the connections as they are now, and the slots offer only those.
          fixes.connections = await api.connections().catch(() => fixes.connections);
        }
        fill(message, failure(err)); // before the slots are offered again: it names the choice
        if (slotRefused) {
          offerAgain(this.shown ?? detail);
        }
        markField(this.body, err instanceof ApiError ? err.field : null, message);
        return false;
      }
    };

    /** Test: the saved settings, each connection they bind tested, then the recipe run once
     * in test mode on a recent trigger event (its actions send nothing). */
    const test = async (): Promise<void> => {
      if (!(await save())) {
        return;
      }
      const results = el('ul', { cls: 'lps-test-results' });
      fill(message, results);
      markWarned(this.body, []); // the Save's warnings are no longer shown
      const bound = Object.entries((this.shown ?? detail).settings.connections ?? {});
      /** The first failure, marked on the field it is about (`said` its description): a
       * connection's on the slot it fills. */
      let marked = false;
      const mark = (field: string | null, said: HTMLElement): void => {
        if (!marked && field) {
          marked = true;
          markField(this.body, field, said);
        }
      };
      // Those the saved settings bind, the automatic choice's too (what a job would use).
      for (const name of new Set(bound.map(([, name]) => name))) {
        const slot = `connections.${bound.find(([, n]) => n === name)?.[0]}`;
        try {
          const c = await api.testConnection(name);
          // Each slot offering it says the state this test left, as the notebook's form does.
          for (const select of slots.values()) {
            for (const option of Array.from(select.options)) {
              if (option.value === name) {
                option.text = `${name} (${c.status})`;
              }
            }
          }
          const ok = c.status === 'connected';
          const said = el('span', { attrs: announced(ok) }, `${name}: `, statusBadge(c.status), ` ${labText(c.status_message ?? '')}`);
          results.append(el('li', { attrs: { 'data-connection': name } }, said));
          if (!ok) {
            mark(slot, said);
          }
        } catch (err) {
          const said = failure(err);
          results.append(el('li', { attrs: { 'data-connection': name } }, `${name}: `, said));
          mark(slot, said);
        }
      }
      const line = el('li', { cls: 'lps-test-run', text: 'test run: queued' });
      results.append(line);
      try {
        let job = await api.test(this.recipe);
        // Followed while the panel is open; closed, it stops asking.
        while ((job.status === 'queued' || job.status === 'running') && !this.isDisposed) {
          fill(line, `test run (job ${job.id}): `, statusBadge(job.status));
          await new Promise(resolve => setTimeout(resolve, 500));
          job = await api.job(job.id);
        }
        // How it ended, said once (not each state it went through): its error with it.
        const said = el('div', { attrs: announced(job.status === 'succeeded') }, `test run (job ${job.id}): `, statusBadge(job.status));
        fill(line, said);
        line.setAttribute('data-status', job.status);
        if (job.error) {
          // A recipe's own error may name a command line as its fix, said as the form does it.
          // Its own fix too (a timeout's, a dead kernel's), as the Jobs panel shows it.
          said.append(el('div', { cls: 'lps-error', text: `${job.error.ename}: ${labText(String(job.error.evalue ?? ''), 'above')}` }));
          const fix = jobErrorFix(job, 'above');
          if (fix) {
            said.append(fix);
          }
        }
        if (job.result !== null && job.result !== undefined) {
          line.append(el('pre', { cls: 'lps-result', text: JSON.stringify(job.result, null, 2) }));
        }
        if (job.output_path) {
          // One removed since the run says so with its fix, below, until the next click.
          const output = job.output_path;
          const refused = el('div', { cls: 'lps-output-refused' });
          const open = (): Promise<void> => {
            fill(refused);
            return this.ctx.openOutput(output).catch(err => fill(refused, failure(err)));
          };
          line.append(button('Open output', open, 'lps-output'), refused);
        }
      } catch (err) {
        const said = failure(err);
        fill(line, 'test run: ', said);
        mark(err instanceof ApiError ? err.field : null, said);
      }
    };

    /**
     * An action on the recipe as the panel shows it (`refused` says what was not done). A
     * Run now, and a builder's Start, save the form first, as Test does (and as the notebook's
     * form does): the job or the trigger runs with what the form shows, and what was typed is
     * not lost when the form is shown again after it.
     */
    const act = async (refused: string, action: () => Promise<unknown>, saving = false): Promise<void> => {
      fill(message);
      markWarned(this.body, []); // said again as the recipe is shown after it
      if (saving && can.build && !(await save(refused))) {
        return;
      }
      try {
        if (!(await this.current(refused))) {
          return;
        }
        await action();
        this.ctx.notifyChanged();
        await this.load();
      } catch (err) {
        fill(message, failure(err));
        markField(this.body, err instanceof ApiError ? err.field : null, message);
      }
    };

    const actions = el('div', { cls: 'lps-actions' });
    if (can.build) {
      actions.append(button('Save', async () => void (await save()), 'lps-primary lps-save'));
      actions.append(button('Test', test, 'lps-test'));
      actions.append(
        runNow(detail.trigger?.kind, () =>
          act(
            'run',
            async () => {
              await api.run(this.recipe);
              this.openJobs(this.recipe);
            },
            true
          )
        )
      );
    }
    if (can.operate) {
      // Start and Stop take each other's place once done (the panel is drawn again): marked
      // as one row (`restoreFocus`), the focus the pressed one held goes to the other, as in
      // the Recipes sidebar.
      const state = el('span', { attrs: { 'data-key': 'state' } });
      actions.append(state);
      state.append(
        detail.state === 'started'
          ? button('Stop', () => act('stopped', () => api.stop(this.recipe)), 'lps-stop')
          : button(
              'Start',
              () =>
                act(
                  'started',
                  // A since moved once fixed polls again from there; refused, it is said and
                  // marked as Since (the API's reset_since).
                  () =>
                    api
                      .start(this.recipe, fixedSince && sinceChanged() ? readMoment(since.value) : undefined)
                      .catch(err => Promise.reject(asSince(err))),
                  true
                ),
              'lps-start'
            )
      );
    }
    actions.append(
      button('Open notebook', () => this.ctx.openRecipe(this.recipe), 'lps-open'),
      this.versionsButton(),
      button('Refresh', () => this.load(), 'lps-refresh')
    );

    // Its plain settings (kind, cron, connection...): a callable's or webhook's schemas are
    // the API's to show, and printed whole they buried the header in JSON.
    const trigger = Object.entries(detail.trigger ?? {})
      .filter(([, v]) => v === null || typeof v !== 'object')
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join(', ');
    fill(
      this.body,
      el('h2', { text: detail.title || this.recipe }),
      el('div', { cls: 'lps-hint', text: detail.recipe }),
      el('p', { text: detail.description }),
      el(
        'div',
        { cls: 'lps-recipe-meta' },
        el('span', { cls: `lps-state lps-state-${detail.state}`, text: detail.state, attrs: { 'data-state': detail.state } }),
        el('span', { cls: 'lps-chip', text: `trigger ${trigger}` }),
        detail.last_job ? el('span', {}, 'last job: ', statusBadge(detail.last_job.status)) : null
      ),
      problem,
      el('h3', { text: 'Connections' }),
      ...slotRows,
      isPoll ? el('h3', { text: 'Trigger' }) : null,
      isPoll
        ? el(
            'label',
            { cls: 'lps-field', attrs: { 'data-field': 'since' } },
            el('span', { cls: 'lps-field-label', text: 'Since' }),
            since,
            sinceHelp
          )
        : null,
      isCallable ? el('h3', { text: 'Calls' }) : null,
      isCallable
        ? el(
            'label',
            { cls: 'lps-field', attrs: { 'data-field': 'call_timeout' } },
            el('span', { cls: 'lps-field-label', text: 'Call timeout (seconds)' }),
            callTimeout,
            el('span', {
              cls: 'lps-field-help',
              text: `how long a caller waits for the recipe's answer before a 504 (the job goes on), up to 600; empty: ${serverCallTimeout} (LpstudioApp.call_timeout)`
            })
          )
        : null,
      el('h3', { text: 'Parameters' }),
      form.node,
      unattended ? el('h3', { text: 'On failure' }) : null,
      ...(unattended
        ? (['webhook', 'email'] as const).map(kind =>
            el(
              'label',
              { cls: 'lps-field', attrs: { 'data-field': `notify.${kind}` } },
              el('span', { cls: 'lps-field-label', text: kind === 'webhook' ? 'Webhook' : 'E-mail' }),
              contacts[kind],
              el('span', {
                cls: 'lps-field-help',
                text:
                  kind === 'webhook'
                    ? 'POSTed a report when a job nobody waits on fails for good (shown without its path; retype it to change it)'
                    : "sent the same report, through the workspace's [smtp] settings"
              })
            )
          )
        : []),
      actions,
      message
    );
    showProblem(detail.settings_problem);
    this.showAround = (now, list) => {
      this.shown = now; // the same as shown, but for slots it left open and fills now
      fixes.connections = list;
      offerAgain(now);
      showProblem(now.settings_problem);
    };
    return warnedOf(detail.warnings, 'status');
  }

  /** Whether restoring a version mends the recipe, as its row in the recipes list says (the
   * server decides it): false when even the list cannot be had. */
  private async restorable(): Promise<boolean> {
    try {
      return (await api.recipes()).some(row => row.recipe === this.recipe && row.restorable);
    } catch {
      return false;
    }
  }

  /** Opens the recipe's versions, each with its Restore (for a role that may build). */
  private versionsButton(): HTMLButtonElement {
    return button('Versions', () => this.ctx.openVersions(this.recipe), 'lps-open-versions');
  }

  private body = el('div', { cls: 'lps-settings-body' });
  private message = el('div', { cls: 'lps-message' });
  /** shows the connections and the settings problem as they are now, the form kept */
  private showAround: (detail: RecipeDetail, connections: Connection[]) => void = () => undefined;
  /** the recipe as the panel shows it, null until first shown */
  private shown: RecipeDetail | null = null;
  /** whether the panel shows why the recipe could not be shown, in place of its form */
  private failed = false;
}
