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

// ExtraTranslations lists the keys lang has that English lacks.
func ExtraTranslations(lang string) []string {
	var extra []string
	for k := range messages[lang] {
		if _, ok := messages["en"][k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return extra
}

// LowerUserCost makes passwords set on the team page cheap to hash, for tests.
func LowerUserCost() { userCost = 4 }
