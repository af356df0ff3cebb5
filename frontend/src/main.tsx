import { render } from 'preact';
import './styles.css';
import { restore } from './api/session';
import { App } from './app';
import './live';
import { initTheme } from './theme';

initTheme();
void restore();
render(<App />, document.getElementById('app')!);
