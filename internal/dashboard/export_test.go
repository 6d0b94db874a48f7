package dashboard

import "sort"

// MissingTranslations lists the English keys that lang lacks.
func MissingTranslations(lang string) []string {
	var missing []string
	for k := range messages["en"] {
		if _, ok := messages[lang][k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	return missing
}
