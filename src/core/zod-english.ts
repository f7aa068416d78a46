/**
 * zod/mini registers no locale (classic zod installs English on its first schema), so without this every issue
 * would read "Invalid input". Client 400s and ConfigErrors quote zod's English messages, so each module that parses
 * with zod imports this one for its effect. Only `en` is imported: `z.locales.en()` would bundle every locale
 * (measured: +255 KiB minified).
 */
import { en } from "zod/locales";
import * as z from "zod/mini";

z.config(en());
