/**
 * The gallery: the template cards, "Try recipe" (copy a template into a project, open it),
 * and the pop-up that shows them the first time an admin opens the studio.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { extensionIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { api, ApiError, BrokenTemplate, Template } from './api';
import { StudioContext } from './context';
import { button, el, errorBox, fill, holdFieldFocus } from './dom';
import { refusedIn } from './fixes';

/** Asks for a project folder and a name, copies the template, opens the new notebook.
 * A refused copy (say, a name already taken) asks again, with the server's error. */
export async function tryTemplate(ctx: StudioContext, template: Template): Promise<boolean> {
  let project = '';
  let name = template.name;
  let error: unknown = null;
  for (;;) {
    // A dialog disposes its body when it closes: each attempt gets a new one.
    const body = new Widget();
    body.addClass('lps-try-dialog');
    const projectInput = el('input', { cls: 'lps-input', attrs: { name: 'project', placeholder: 'e.g. shop' } });
    const nameInput = el('input', { cls: 'lps-input', attrs: { name: 'name', placeholder: template.name } });
    projectInput.value = project;
    nameInput.value = name;
    body.node.append(
      el('p', { text: template.description }),
      el('label', { cls: 'lps-field', attrs: { 'data-field': 'project' } }, el('span', { cls: 'lps-field-label', text: 'Project folder' }), projectInput),
      el('label', { cls: 'lps-field', attrs: { 'data-field': 'name' } }, el('span', { cls: 'lps-field-label', text: 'Recipe name' }), nameInput)
    );
    if (error) {
      // Named and marked as the form labels it (`--name`, `name`: its Recipe name).
      body.node.append(refusedIn(body.node, error));
    }
    holdFieldFocus(body.node);
    const result = await showDialog({
      title: `Try recipe: ${template.title}`,
      body,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Create recipe' })],
      // The field a refusal named, where it is corrected; else the first.
      focusNodeSelector: body.node.querySelector('[aria-invalid=true]') ? '[aria-invalid=true]' : 'input[name=project]'
    });
    if (!result.button.accept) {
      return false;
    }
    project = projectInput.value.trim();
    // Empty: the template's name, as its placeholder says; spaces alone are sent as typed,
    // to be refused naming the field (they were taken for empty).
    name = nameInput.value.trim() || nameInput.value;
    try {
      const detail = await api.tryTemplate(template.name, project, name || undefined);
      ctx.notifyChanged();
      await ctx.openRecipe(detail.recipe);
      // A webhook's hook, or a callable's endpoint (its own when another recipe had the
      // template's path): where it receives, as `lpstudio gallery try` says.
      const link = detail.trigger.hook ?? detail.trigger.endpoint;
      if (typeof link === 'string') {
        Notification.info(`${detail.recipe} receives: POST ${link}`, { autoClose: false });
      }
      return true;
    } catch (err) {
      error = err;
    }
  }
}

/** The template cards. */
export class GalleryPanel extends Widget {
  constructor(
    private ctx: StudioContext,
    private onTry: (template: Template) => void = t => void tryTemplate(ctx, t)
  ) {
    super();
    this.id = 'lpstudio-gallery';
    this.title.label = 'Recipe gallery';
    this.title.icon = extensionIcon; // a collapsed tab (200% zoom) shows it, not a blank
    this.title.closable = true;
    this.addClass('lps-panel');
    this.addClass('lps-gallery');
    this.node.append(
      el('h2', { text: 'Recipe gallery' }),
      el('p', { cls: 'lps-hint', text: 'Templates to copy into a project and make your own.' }),
      this.cards
    );
    this.loaded = this.refresh();
  }

  /** Settled once the first cards (or why there are none) are shown. */
  readonly loaded: Promise<void>;

  async refresh(): Promise<void> {
    try {
      const { templates, broken } = await api.gallery();
      fill(this.cards, ...templates.map(t => this.card(t)), ...broken.map(brokenCard));
      this.cards.dataset.loaded = 'true';
    } catch (err) {
      fill(this.cards, errorBox(err));
    }
  }

  private card(t: Template): HTMLElement {
    const card = el(
      'div',
      { cls: 'lps-card', attrs: { 'data-template': t.name } },
      el('div', { cls: 'lps-card-group', text: t.group }),
      el('h3', { cls: 'lps-card-title', text: t.title }),
      el('p', { cls: 'lps-card-description', text: t.description }),
      el(
        'div',
        { cls: 'lps-card-meta' },
        el('span', { cls: 'lps-chip', text: `trigger: ${t.trigger}` }),
        ...t.connectors.map(c => el('span', { cls: 'lps-chip', text: c }))
      )
    );
    if (this.ctx.me.can.build) {
      card.append(button('Try recipe', () => this.onTry(t), 'lps-primary lps-try', t.title)); // every card has one
    }
    return card;
  }

  private cards = el('div', { cls: 'lps-cards' });
}

/** A template that cannot be tried: its file and its error with the fix, and no Try. */
function brokenCard(b: BrokenTemplate): HTMLElement {
  return el(
    'div',
    { cls: 'lps-card lps-card-broken', attrs: { 'data-template': b.name } },
    el('h3', { cls: 'lps-card-title', text: b.name }),
    el('p', { cls: 'lps-card-description', text: `${b.file} cannot be tried` }),
    errorBox(new ApiError(400, b.code, b.message, b.field, b.fix))
  );
}

/** The gallery as a pop-up, once its cards are shown; resolves once the user closed it. */
export async function showGalleryPopup(ctx: StudioContext): Promise<void> {
  let chosen = null as Template | null;
  const gallery = new GalleryPanel(ctx, t => {
    chosen = t;
    dialog.resolve(0);
  });
  // A dialog finds what Tab goes round when it opens: cards added after would be skipped,
  // each Tab from Close landing on Close again.
  await gallery.loaded;
  const dialog = new Dialog({
    title: 'Welcome to lpstudio: start from a template',
    body: gallery,
    buttons: [Dialog.cancelButton({ label: 'Close' })]
  });
  dialog.addClass('lps-gallery-popup');
  await dialog.launch();
  if (chosen) {
    await tryTemplate(ctx, chosen);
  }
}
