// The monitoring form (node/web/static/js/pages/filing-form.js).
import { filingForm } from './filing-form.js';

export const render = (root, ctx) => filingForm(root, ctx, 'monitoring');
